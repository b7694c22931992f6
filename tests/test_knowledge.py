"""The knowledge base loads, every fact resolves to a source, and broken copies are refused."""

from __future__ import annotations

import re
import shutil
from importlib import resources
from pathlib import Path

import pytest

from b12ms.engine import EVIDENT_CAUSES, IRREVERSIBLE_ROUTES
from b12ms.errors import KnowledgeBaseError
from b12ms.knowledge import Knowledge, load_knowledge
from b12ms.knowledge.loader import load_from

KB_DIR = Path(str(resources.files("b12ms.knowledge")))
ENGINE_SRC = (KB_DIR.parent / "engine.py").read_text()

CONTRACT_IDS = {
    "risk.metformin",
    "risk.proton_pump_inhibitor",
    "risk.h2_receptor_antagonist",
    "risk.nitrous_oxide",
    "risk.other_medicine",
    "risk.low_animal_source_diet",
    "risk.autoimmune_gastritis",
    "risk.other_autoimmune",
    "risk.gastric_or_bariatric_surgery",
    "risk.ileal_disease_or_resection",
    "risk.coeliac_disease",
    "risk.family_history",
    "risk.alcohol",
    "risk.older_age",
    "ms.diagnosis",
    "ms.s1p_modulator",
    "ms.overlapping_symptoms",
    "caveat.tested_after_treatment",
    "caveat.pregnancy",
    "caveat.nitrous_oxide",
    "caveat.folate_deficiency",
    "caveat.stale_result",
    "flag.macrocytosis",
    "flag.anaemia",
    "flag.raised_mma",
    "flag.raised_homocysteine",
}
CONTRACT_RECOMMENDATIONS = {
    "test.total_or_active_b12",
    "test.active_b12",
    "test.mma",
    "test.homocysteine_or_mma",
    "test.intrinsic_factor_antibody",
    "test.folate",
    "treat.urgent_neuro",
    "treat.start",
    "advice.blood_before_treatment",
    "advice.no_folic_acid_alone",
    "followup.review_3_months",
}


@pytest.fixture(scope="module")
def kb() -> Knowledge:
    return load_knowledge()


def _copy_kb(tmp_path: Path) -> Path:
    dest = tmp_path / "kb"
    shutil.copytree(KB_DIR, dest, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dest


class TestShippedKnowledgeBase:
    def test_loads_with_version_and_hash(self, kb: Knowledge) -> None:
        """The shipped knowledge base validates and carries a version and a SHA-256."""
        assert re.fullmatch(r"\d{4}\.\d+\.\d+", kb.version)
        assert re.fullmatch(r"[0-9a-f]{64}", kb.sha256)

    def test_every_item_resolves_to_a_source(self, kb: Knowledge) -> None:
        """Every threshold, value-set row, risk factor, symptom, finding and recommendation
        names at least one source, and every named source exists with a citation and URL."""
        cited: list[tuple[str, tuple[str, ...]]] = []
        for g in kb.guidelines.values():
            cited += [(f"band {b.lab}/{b.family}/{b.band}", b.sources) for b in g.bands]
            cited += [(f"conclusion {c.band}", c.sources) for c in g.conclusions]
            cited += [(f"setting {k}", s.sources) for k, s in g.settings.items()]
        for vs in kb.valuesets.values():
            cited += [(f"{vs.name}:{e.code}", e.sources) for e in vs.entries]
        for lab in kb.labs.values():
            cited.append((f"lab {lab.id}", lab.sources))
            cited += [(f"{lab.id} family {f.name}", f.sources) for f in lab.families.values()]
            for limit in (lab.default_upper_limit, lab.default_lower_limit):
                if limit is not None:
                    cited.append((f"{lab.id} default limit", limit.sources))
        for rf in kb.risk_factors:
            cited += [(f"{rf.id} route {r.what}", r.sources) for r in rf.routes]
        cited += [(s.id, s.sources) for s in kb.symptoms]
        cited += [(f.id, f.sources) for f in kb.findings.values()]
        cited += [(r.id, r.sources) for r in kb.recommendations.values()]
        cited += [(g.id, g.sources) for g in kb.care_gaps.values()]
        cited += [(f"care gap setting {k}", s.sources) for k, s in kb.care_gap_settings.items()]
        for what, ids in cited:
            assert ids, f"{what} has no source"
            for sid in ids:
                assert sid in kb.sources, f"{what} cites unknown source {sid}"
                assert kb.sources[sid].citation and kb.sources[sid].url

    def test_every_source_is_used(self, kb: Knowledge) -> None:
        """No source sits in sources.toml without a fact citing it (stale citations go)."""
        text = "".join(p.read_text() for p in KB_DIR.rglob("*") if p.suffix in (".toml", ".csv"))
        sources_text = (KB_DIR / "sources.toml").read_text()
        for sid in kb.sources:
            uses = text.count(f'"{sid}"') + text.count(f",{sid}") + text.count(f";{sid}")
            uses -= sources_text.count(f'"{sid}"')
            assert uses > 0, f"source {sid} is never cited"

    def test_contract_ids_exist(self, kb: Knowledge) -> None:
        """Every finding and recommendation id named in the JSON contract is defined."""
        assert kb.finding_ids() >= CONTRACT_IDS
        assert set(kb.recommendations) >= CONTRACT_RECOMMENDATIONS

    def test_engine_and_knowledge_agree_on_ids(self, kb: Knowledge) -> None:
        """Every id the engine names exists in the knowledge base, and every finding and
        recommendation the knowledge base defines is produced somewhere by the engine."""
        named = set(
            re.findall(
                r'"((?:risk|ms|caveat|flag|symptom|test|treat|advice|followup)\.[a-z0-9_]+)"',
                ENGINE_SRC,
            )
        )
        known = kb.finding_ids() | set(kb.recommendations)
        assert named <= known, named - known
        engine_made = {fid for fid, f in kb.findings.items() if f.matchers is None}
        assert engine_made <= named, engine_made - named
        assert set(kb.recommendations) <= named, set(kb.recommendations) - named
        assert kb.finding_ids() >= EVIDENT_CAUSES
        assert kb.finding_ids() >= IRREVERSIBLE_ROUTES

    def test_nice_thresholds_are_the_guideline_figures(self, kb: Knowledge) -> None:
        """The NG239 cut-offs are 180/350 ng/L, 133/258 pmol/L and 25/70 pmol/L."""
        g = kb.guideline("nice-ng239")
        cuts = {(b.lab, b.family): (b.lower, b.upper) for b in g.bands if b.band == "indeterminate"}
        assert cuts == {
            ("total_b12", "mass"): (180.0, 350.0),
            ("total_b12", "molar"): (133.0, 258.0),
            ("active_b12", "molar"): (25.0, 70.0),
        }

    def test_conversion_reproduces_nice_molar_figures(self, kb: Knowledge) -> None:
        """The ng/L to pmol/L factor turns 180 and 350 ng/L into NICE's 133 and 258 pmol/L."""
        factor = kb.labs["total_b12"].families["mass"].to_canonical
        assert round(180 * factor) == 133
        assert round(350 * factor) == 258

    def test_no_unverified_codes(self, kb: Knowledge) -> None:
        """Codes the shared notes mark NOT VERIFIED stay out of the value sets."""
        codes = {e.code for vs in kb.valuesets.values() for e in vs.entries}
        for unverified in ("91019004", "444683003", "441030002", "49472006", "190634004"):
            assert unverified not in codes


class TestBrokenKnowledgeBase:
    def test_unknown_source_is_refused(self, tmp_path: Path) -> None:
        """A fact citing a source that does not exist makes loading fail with its location."""
        root = _copy_kb(tmp_path)
        path = root / "recommendations.toml"
        path.write_text(path.read_text().replace('"nasgp-ng239"', '"no-such-source"', 1))
        with pytest.raises(KnowledgeBaseError, match="unknown source id 'no-such-source'"):
            load_from(root)  # type: ignore[arg-type]

    def test_gap_between_bands_is_refused(self, tmp_path: Path) -> None:
        """Bands that leave a gap between low and indeterminate are refused."""
        root = _copy_kb(tmp_path)
        path = root / "guideline-nice-ng239.toml"
        path.write_text(path.read_text().replace("below = 180.0", "below = 170.0", 1))
        with pytest.raises(KnowledgeBaseError, match="gap or overlap"):
            load_from(root)  # type: ignore[arg-type]

    def test_bad_valueset_row_is_refused(self, tmp_path: Path) -> None:
        """A value-set row with an unknown code system is refused."""
        root = _copy_kb(tmp_path)
        path = root / "valuesets" / "med_metformin.csv"
        path.write_text(path.read_text() + "123,thing,http://example.org/made-up,cpic-rxnorm\n")
        with pytest.raises(KnowledgeBaseError, match="unknown code system"):
            load_from(root)  # type: ignore[arg-type]

    def test_all_problems_reported_together(self, tmp_path: Path) -> None:
        """Several problems are reported in one error, not one at a time."""
        root = _copy_kb(tmp_path)
        path = root / "recommendations.toml"
        text = path.read_text().replace('urgency = "urgent"', 'urgency = "asap"')
        path.write_text(text.replace('"nasgp-ng239"', '"missing-source"', 1))
        with pytest.raises(KnowledgeBaseError) as info:
            load_from(root)  # type: ignore[arg-type]
        assert "urgency must be one of" in str(info.value)
        assert "missing-source" in str(info.value)

    def test_edit_changes_the_hash(self, tmp_path: Path, kb: Knowledge) -> None:
        """Any edit to a knowledge file changes the content hash stamped on assessments."""
        root = _copy_kb(tmp_path)
        path = root / "findings.toml"
        path.write_text(path.read_text() + "\n# a comment\n")
        assert load_from(root).sha256 != kb.sha256  # type: ignore[arg-type]
