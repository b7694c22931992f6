"""One synthetic patient: their FHIR resources as NDJSON lines, and the ground truth behind them.

Everything here is drawn from one `random.Random` seeded from (seed, patient index), so patient
i is the same whatever the population size, and the same seed gives the same text. Dates are
day ordinals until written; nothing happens after the as-of date (or the date of death).

The ground truth names what was put in with the knowledge base's ids (risk.*, symptom.*), in
the engine's own terms: a risk factor is listed when the record shows it at the as-of date
(a medicine current or recent, a diagnosis or operation on record), and a symptom when it is
still active. Past exposures are listed separately.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from b12ms.synth import _fhir as F

# Tags on each output line: "" unrelated, "r" B12-relevant, else the kind of malformed line.
RELEVANT = "r"
MALFORMED_KINDS = ("truncated", "not_object", "no_resource_type")

# NICE NG239 bands as the generator means them (the engine reads them from the knowledge
# base; the tests compare the two): per unit family, values < low are "low", low..high
# inclusive "indeterminate", > high "normal".
CUTS = {"mass": (180.0, 350.0), "molar": (133.0, 258.0), "active": (25.0, 70.0)}
BAND_RANK = {"low": 0, "indeterminate": 1, "normal": 2}
NG_L_TO_PMOL_L = 0.7378
OLDER_AGE_ABOVE = 65
YEAR = 365

_DAYS: dict[int, str] = {}


def iso(day: int) -> str:
    """ISO date of a day ordinal (memoised: a population reuses a few thousand days)."""
    text = _DAYS.get(day)
    if text is None:
        text = dt.date.fromordinal(day).isoformat()
        if len(_DAYS) > 200_000:
            _DAYS.clear()
        _DAYS[day] = text
    return text


def band(family: str, value: float, comparator: str | None) -> str:
    """The NICE band of a B12 value in its unit family; a comparator is banded by its bound
    unless every value it allows lies in one band."""
    low, high = CUTS[family]
    if comparator == "<" and value <= low:
        return "low"
    if comparator == ">" and value >= high:
        return "normal"
    if value < low:
        return "low"
    if value <= high:
        return "indeterminate"
    return "normal"


def age_on(birth: int, day: int) -> int:
    """Whole years of age on a day, as the engine counts them."""
    b = dt.date.fromordinal(birth)
    d = dt.date.fromordinal(day)
    return d.year - b.year - ((d.month, d.day) < (b.month, b.day))


class Patient:
    """Generate one patient; read `lines` (resource type, NDJSON line, tag) and `truth`."""

    def __init__(self, seed: int, index: int, as_of: int) -> None:
        rng = random.Random(f"b12ms-synth/{seed}/{index}")  # noqa: S311 (synthetic data)
        self.rng = rng
        a = rng.getrandbits(64)
        self._pre = f"{a >> 32:08x}-{(a >> 16) & 0xFFFF:04x}-{a & 0xFFFF:04x}-"
        self._suf = f"-{index:012x}"
        self.pid = f"{self._pre}0000{self._suf}"
        self._k = 0
        self._subj = f'"subject":{{"reference":"Patient/{self.pid}"}}'
        self._tz = rng.choice(F.TIME_ZONES)
        self._enc: dict[int, tuple[str, str]] = {}
        self.lines: list[tuple[str, str, str]] = []
        self.as_of = as_of
        self.truth: dict[str, Any] = {"patient": self.pid, "index": index}
        self._build()

    # ---- small helpers -----------------------------------------------------------------

    def _id(self) -> str:
        self._k += 1
        return f"{self._pre}{self._k:04x}{self._suf}"

    def _day(self, first: int, last: int) -> int:
        """A day from first to last inclusive (first when the span is empty)."""
        return first + self.rng.randrange(last - first + 1) if last > first else first

    def _encounter(self, day: int, etype: str = F.ENC_PROBLEM) -> tuple[str, str]:
        """The encounter on this day (created on first use): its reference element and time."""
        e = self._enc.get(day)
        if e is None:
            rng = self.rng
            start = 8 * 60 + rng.randrange(600)
            end = start + 15 + rng.randrange(45)
            d = iso(day)
            t0 = f"{d}T{start // 60:02d}:{start % 60:02d}:00{self._tz}"
            t1 = f"{d}T{end // 60:02d}:{end % 60:02d}:00{self._tz}"
            eid = self._id()
            self.lines.append(
                (
                    "Encounter",
                    f'{{"resourceType":"Encounter","id":"{eid}","status":"finished",'
                    f'"class":{F.AMB},"type":[{etype}],{self._subj},'
                    f'"period":{{"start":"{t0}","end":"{t1}"}}}}',
                    "",
                )
            )
            e = (f'"encounter":{{"reference":"Encounter/{eid}"}}', t0)
            self._enc[day] = e
        return e

    def _quantity(
        self,
        day: int,
        category: str,
        code: str,
        value: float,
        unit: str,
        ref_range: str = "",
        *,
        status: str = "final",
        comparator: str | None = None,
        tag: str = "",
    ) -> str:
        enc, t = self._encounter(day)
        oid = self._id()
        comp = f'"comparator":"{comparator}",' if comparator else ""
        self.lines.append(
            (
                "Observation",
                f'{{"resourceType":"Observation","id":"{oid}","status":"{status}",'
                f'"category":{category},"code":{code},{self._subj},{enc},'
                f'"effectiveDateTime":"{t}","issued":"{t}",'
                f'"valueQuantity":{{"value":{value!r},{comp}{unit}}}{ref_range}}}',
                tag,
            )
        )
        return oid

    def _valued(self, day: int, category: str, code: str, value: str, tag: str = "") -> None:
        """An Observation with a value fragment ('"valueString":...' or a CodeableConcept)."""
        enc, t = self._encounter(day)
        self.lines.append(
            (
                "Observation",
                f'{{"resourceType":"Observation","id":"{self._id()}","status":"final",'
                f'"category":{category},"code":{code},{self._subj},{enc},'
                f'"effectiveDateTime":"{t}","issued":"{t}",{value}}}',
                tag,
            )
        )

    def _condition(
        self,
        day: int,
        code: str,
        *,
        abated: int | None = None,
        category: str = F.CAT_PROBLEM,
        tag: str = RELEVANT,
    ) -> None:
        enc, t = self._encounter(day)
        if abated is None:
            status, ab = F.ACTIVE, ""
        else:
            status, ab = F.RESOLVED, f',"abatementDateTime":"{iso(abated)}T12:00:00{self._tz}"'
        self.lines.append(
            (
                "Condition",
                f'{{"resourceType":"Condition","id":"{self._id()}","clinicalStatus":{status},'
                f'"verificationStatus":{F.CONFIRMED},"category":{category},"code":{code},'
                f'{self._subj},{enc},"onsetDateTime":"{t}","recordedDate":"{t}"{ab}}}',
                tag,
            )
        )

    def _procedure(self, day: int, code: str, tag: str = RELEVANT) -> None:
        enc, t = self._encounter(day)
        self.lines.append(
            (
                "Procedure",
                f'{{"resourceType":"Procedure","id":"{self._id()}","status":"completed",'
                f'"code":{code},{self._subj},{enc},'
                f'"performedPeriod":{{"start":"{t}","end":"{t}"}}}}',
                tag,
            )
        )

    def _order(self, day: int, medication: str, status: str, tag: str) -> None:
        enc, t = self._encounter(day)
        self.lines.append(
            (
                "MedicationRequest",
                f'{{"resourceType":"MedicationRequest","id":"{self._id()}","status":"{status}",'
                f'"intent":"order","category":{F.CAT_COMMUNITY},'
                f'"medicationCodeableConcept":{medication},{self._subj},{enc},'
                f'"authoredOn":"{t}","dosageInstruction":[{{"sequence":1,'
                f'"timing":{{"repeat":{{"frequency":1,"period":1,"periodUnit":"d"}}}}}}]}}',
                tag,
            )
        )

    def _course(
        self, medication: str, start: int, stop: int, *, current: bool, tag: str = RELEVANT
    ) -> None:
        """Yearly renewals from start to stop: each renewal "stopped", the latest "active"
        when the course is current (as real exports record long-term medicines)."""
        day = start
        while True:
            nxt = day + YEAR
            last = nxt > stop
            self._order(day, medication, "active" if (last and current) else "stopped", tag)
            if last:
                return
            day = nxt

    # ---- the patient -------------------------------------------------------------------

    def _build(self) -> None:
        rng = self.rng
        r = rng.random
        as_of = self.as_of
        truth = self.truth
        today = dt.date.fromordinal(as_of)

        # Who: sex, age (a few under 16), death.
        u = r()
        sex = "female" if u < 0.52 else "male" if u < 0.99 else "other" if u < 0.995 else "unknown"
        if r() < 0.03:
            years = 1 + rng.randrange(15)
        else:
            years = min(95, 16 + int(rng.triangular(0, 80, 40)))
        birth = dt.date(today.year - years, today.month, min(today.day, 28)).toordinal()
        birth -= rng.randrange(1, YEAR)
        deceased = years >= 16 and r() < (0.02 + 0.08 * (years > 75))
        end = as_of - rng.randrange(1, 3 * YEAR) if deceased else as_of
        age = age_on(birth, as_of)
        adult = age >= 16
        first = max(birth + 30, end - rng.randrange(3 * YEAR, 20 * YEAR))
        self.first, self.end = first, end

        names = F.GIVEN.get(sex) or F.GIVEN["female"]
        given = names[rng.randrange(len(names))]
        family = F.FAMILY[rng.randrange(len(F.FAMILY))]
        death = f',"deceasedDateTime":"{iso(end)}T{rng.randrange(24):02d}:00:00{self._tz}"'
        self.lines.append(
            (
                "Patient",
                f'{{"resourceType":"Patient","id":"{self.pid}","identifier":[{{"system":'
                f'"urn:b12ms:synth","value":"{self.pid}"}}],"name":[{{"use":"official",'
                f'"family":"{family}","given":["{given}"]}}],"gender":"{sex}",'
                f'"birthDate":"{iso(birth)}"{death if deceased else ""}}}',
                "",
            )
        )
        # The engine reports the age at death for someone who has died.
        truth.update(
            sex=sex,
            birth_date=iso(birth),
            age=age_on(birth, end),
            deceased=deceased,
            deceased_date=iso(end) if deceased else None,
        )

        risks: set[str] = set()
        past: set[str] = set()
        meds: list[dict[str, Any]] = []

        def course(
            risk: str | None, medication: str, chance_past: float = 0.15, *, years_max: int = 15
        ) -> None:
            """A long-term medicine: current (latest order active) or stopped long ago."""
            stopped_by = as_of - 3 * YEAR
            if r() < chance_past and first < stopped_by - YEAR:
                start = self._day(first, stopped_by - YEAR)
                stop = min(stopped_by, start + YEAR * (1 + rng.randrange(6)))
                current = False
            else:
                start = self._day(max(first, end - years_max * YEAR), end)
                stop, current = end, True
            self._course(medication, start, stop, current=current)
            if risk is not None:
                (risks if current else past).add(risk)
                meds.append(
                    {"risk": risk, "start": iso(start), "current": current, "last": iso(stop)}
                )

        # ---- MS, other conditions and risk factors ---------------------------------------
        ms = adult and r() < 0.12
        s1p = False
        if ms:
            onset = self._day(first, end)
            self._condition(onset, F.MS_CODES[rng.randrange(len(F.MS_CODES))])
            if r() < 0.5:
                if r() < 0.4:
                    s1p = True
                    course(None, F.S1P[rng.randrange(len(F.S1P))], 0.0, years_max=8)
                else:
                    drug = F.OTHER_MS_DRUGS[rng.randrange(len(F.OTHER_MS_DRUGS))]
                    course(None, drug, 0.0, years_max=8)
        truth["ms"] = ms
        truth["s1p_modulator"] = s1p

        older = age > 45
        t2dm = adult and r() < (0.04 + 0.12 * older)
        if t2dm:
            self._condition(self._day(first, end), F.TYPE2_DIABETES)
            if r() < 0.85:
                course("risk.metformin", F.METFORMIN)
        if adult and r() < 0.08 + 0.07 * older:
            if r() < 0.6:
                self._condition(self._day(first, end), F.GERD, tag="")
            course("risk.proton_pump_inhibitor", F.PPIS[rng.randrange(len(F.PPIS))])
        if adult and r() < 0.03:
            course("risk.h2_receptor_antagonist", F.H2RAS[rng.randrange(len(F.H2RAS))])
        if adult and r() < 0.015:
            self._condition(self._day(first, end), F.GOUT, tag="")
            course("risk.other_medicine", F.COLCHICINE)
        if adult and r() < 0.015:
            self._condition(self._day(first, end), F.MIGRAINE, tag="")
            course("risk.other_medicine", F.TOPIRAMATE)
        if adult and r() < (0.08 if ms else 0.02):
            course("risk.other_medicine", F.PREGABALIN)
        metformin = [m for m in meds if m["risk"] == "risk.metformin"]
        truth["metformin_start"] = metformin[0]["start"] if metformin else None

        if adult and r() < (0.07 if age < 35 else 0.015):
            self._valued(
                self._day(first, end),
                F.CAT_SOCIAL,
                F.DRUG_USE,
                '"valueString":"Nitrous oxide (laughing gas), weekly"',
                RELEVANT,
            )
            risks.add("risk.nitrous_oxide")
        elif r() < 0.05:  # asked and denied: must not count
            self._valued(
                self._day(first, end), F.CAT_SOCIAL, F.NITROUS_USE, '"valueString":"Never"'
            )
        u = r()
        if u < 0.06:
            diet = ("Vegan diet", "Vegetarian diet", "Plant-based diet")[rng.randrange(3)]
            value = f'"valueString":"{diet}"'
            if r() < 0.3:
                value = f'"valueCodeableConcept":{F.text_cc(diet)}'
            self._valued(self._day(first, end), F.CAT_SOCIAL, F.DIET, value, RELEVANT)
            risks.add("risk.low_animal_source_diet")
        elif u < 0.3:
            diet = ("Omnivore diet", "Mediterranean diet", "Low-salt diet")[rng.randrange(3)]
            self._valued(self._day(first, end), F.CAT_SOCIAL, F.DIET, f'"valueString":"{diet}"')

        pa = adult and r() < (0.01 + 0.02 * (age > 60))
        if pa:
            self._condition(self._day(first, end), F.PERNICIOUS_ANAEMIA[rng.randrange(2)])
            risks.add("risk.autoimmune_gastritis")
        if r() < 0.03:
            self._condition(self._day(first, end), F.AUTOIMMUNE[rng.randrange(len(F.AUTOIMMUNE))])
            risks.add("risk.other_autoimmune")
        if adult and r() < 0.015:
            day = self._day(first, end)
            if r() < 0.7:
                self._procedure(day, F.BARIATRIC_PROCEDURES[rng.randrange(2)])
            if r() < 0.6:
                self._condition(self._day(day, end), F.BARIATRIC_STATUS)
            else:
                self._procedure(day, F.BARIATRIC_PROCEDURES[rng.randrange(2)])
            risks.add("risk.gastric_or_bariatric_surgery")
        crohns = r() < 0.01
        if crohns:
            self._condition(self._day(first, end), F.CROHNS)
            risks.add("risk.ileal_disease_or_resection")
        if r() < (0.4 if crohns else 0.003):
            self._procedure(self._day(first, end), F.ILEAL_PROCEDURES[rng.randrange(2)])
            risks.add("risk.ileal_disease_or_resection")
        if adult and r() < 0.007:
            self._procedure(self._day(first, end), F.RADIOTHERAPY[rng.randrange(2)])
            risks.add("risk.abdominal_or_pelvic_radiotherapy")
        if r() < 0.01:
            self._condition(self._day(first, end), F.COELIAC)
            risks.add("risk.coeliac_disease")
        if r() < 0.02:
            self._condition(self._day(first, end), F.FAMILY_HISTORY_PA)
            risks.add("risk.family_history")
        if adult and r() < 0.03:
            self._condition(
                self._day(first, end), F.ALCOHOL[rng.randrange(2)], category=F.CAT_DIAGNOSIS
            )
            risks.add("risk.alcohol")
        if age_on(birth, end) > OLDER_AGE_ABOVE:  # age at death for the deceased, as the engine
            risks.add("risk.older_age")

        # Pregnancy: current or ended (women 16-45 alive at the as-of date).
        pregnant = False
        if sex == "female" and 16 <= age <= 45 and not deceased and r() < 0.06:
            if r() < 0.5:
                self._condition(as_of - 20 - rng.randrange(220), F.PREGNANCY)
                pregnant = True
            else:
                start = as_of - 300 - rng.randrange(5 * YEAR)
                self._condition(start, F.PREGNANCY, abated=start + 260 + rng.randrange(25))
        truth["pregnant"] = pregnant

        # MS-like symptoms: active or resolved.
        active: set[str] = set()
        resolved: set[str] = set()
        if r() < (0.65 if ms else 0.12):
            for _ in range(1 + (r() < 0.4) + (r() < 0.15)):
                concept, ids = F.SYMPTOMS[rng.randrange(len(F.SYMPTOMS))]
                onset = self._day(max(first, end - 3 * YEAR), end)
                if r() < 0.25 and onset < end - 30:
                    self._condition(onset, concept, abated=self._day(onset + 14, end))
                    resolved.update(ids)
                else:
                    self._condition(onset, concept, category=F.CAT_DIAGNOSIS)
                    active.update(ids)
        truth["ms_like_symptoms"] = sorted(active - F.NOT_MS_LIKE)
        truth["symptoms"] = sorted(active)
        truth["resolved_symptoms"] = sorted(resolved - active)

        box2 = risks - {"risk.older_age", "risk.alcohol"}
        if self._b12(age, sex, pa, len(box2), bool(active), ms, truth):
            risks.add("risk.autoimmune_gastritis")  # intrinsic factor antibody positive

        truth["risk_factors"] = sorted(risks)
        truth["past_risk_factors"] = sorted(past - risks)
        truth["medications"] = meds

        # ---- the rest of the record: visits, vitals, routine labs, unrelated items -----------
        self._routine(age, sex, t2dm)
        truth["malformed"] = []
        self._malformed()

    # ---- B12 results, the tests around them, and treatment ---------------------------------

    def _b12(
        self,
        age: int,
        sex: str,
        pa: bool,
        n_box2: int,
        symptomatic: bool,
        ms: bool,
        truth: dict[str, Any],
    ) -> bool:
        """B12 results, the tests taken with and after them, and treatment; True when an
        intrinsic factor antibody test was positive."""
        rng = self.rng
        r = rng.random
        first, end = self.first, self.end
        deficient = r() < min(0.75, 0.08 + 0.09 * n_box2 + 0.3 * pa + 0.05 * (age > 65))
        p_test = 0.12 + 0.25 * symptomatic + 0.12 * (n_box2 > 0) + 0.15 * ms
        results: list[dict[str, Any]] = []
        functional: list[dict[str, Any]] = []
        not_final: list[str] = []
        treat_start: int | None = None
        treat: dict[str, Any] | None = None
        treated_after = False
        decided = False
        ifab: str | None = None

        queue: list[tuple[int, bool]] = []  # (day, is a repeat after an abnormal result)
        if r() < min(p_test, 0.85):
            n = 1 + (r() < 0.35) + (r() < 0.15)
            queue = sorted((self._day(max(first, end - 8 * YEAR), end), False) for _ in range(n))
        if pa and treat_start is None and r() < 0.5:
            # Known pernicious anaemia, on lifelong injections from before the record's results.
            treat_start = self._day(first, end)
            decided = True
        if treat_start is not None:
            treat = self._treatment(treat_start, current=True, reason="pernicious anaemia")

        done = 0
        while queue and done < 6:
            queue.sort()
            day, repeat = queue.pop(0)
            done += 1
            on_treatment = treat_start is not None and treat_start < day
            if on_treatment:
                ng = 400 + 1800 * r()
            elif deficient:
                ng = 50 + 250 * r() ** 1.5
            else:
                ng = 230 + 870 * r() ** 1.5
            kind = ("total_pg_ml", "total_ng_l", "total_pmol_l", "active_pmol_l")[
                _pick(r(), (0.4, 0.7, 0.9))
            ]
            test, loinc, unit, family, code, unit_frag, range_frag = F.B12_TESTS[kind]
            comparator: str | None = None
            if family == "mass":
                value: float = round(ng)
                if r() < 0.02:
                    value = (180, 350)[rng.randrange(2)]
                elif value < 100 and r() < 0.6:
                    value, comparator = 100, "<"
                elif value > 1500 and r() < 0.7:
                    value, comparator = 1500, ">"
            elif family == "molar":
                value = round(ng * NG_L_TO_PMOL_L)
                if r() < 0.02:
                    value = (133, 258)[rng.randrange(2)]
                elif value < 74 and r() < 0.5:
                    value, comparator = 74, "<"
            else:  # active B12 (holotranscobalamin), pmol/L
                value = round(ng / 6.0, 1)
                if r() < 0.03:
                    value = (25.0, 70.0)[rng.randrange(2)]
            u = r()
            status = "entered-in-error" if u < 0.02 else "preliminary" if u < 0.04 else "final"
            b = band(family, value, comparator)
            oid = self._quantity(
                day,
                F.CAT_LAB,
                code,
                value,
                unit_frag,
                range_frag,
                status=status,
                comparator=comparator,
                tag=RELEVANT,
            )
            results.append(
                {
                    "id": oid,
                    "date": iso(day),
                    "test": test,
                    "loinc": loinc,
                    "value": value,
                    "unit": unit,
                    "comparator": comparator,
                    "status": status,
                    "band": b,
                }
            )
            if status != "final":
                not_final.append(oid)
                if r() < 0.7:  # usually re-run within days
                    queue.append((min(end, day + 1 + rng.randrange(10)), repeat))
                continue
            # Tests taken with it.
            if r() < 0.6:
                self._folate(day, deficient and r() < 0.2)
            if r() < 0.7:
                self._blood_count(day, sex, deficient)
            abnormal = b != "normal"
            if abnormal and r() < 0.35:
                functional.extend(self._functional(self._day(day, min(end, day + 40)), deficient))
            if ifab is None and abnormal and r() < (0.5 if b == "low" else 0.1):
                positive = r() < (0.6 if pa else 0.05)
                self._valued(
                    self._day(day, min(end, day + 30)),
                    F.CAT_LAB,
                    F.IFAB,
                    f'"valueCodeableConcept":{F.POSITIVE if positive else F.NEGATIVE}',
                    RELEVANT,
                )
                ifab = "positive" if positive else "negative"
            # Treatment decision after the first abnormal result, and follow-up tests.
            if abnormal and not decided and not on_treatment:
                decided = True
                if r() < (1.0 if pa else 0.75 if b == "low" else 0.35):
                    start = day + 3 + rng.randrange(28)
                    if start <= end:
                        treat_start = start
                        treated_after = True
                        treat = self._treatment(start, current=r() < 0.6, reason="after result")
                        if r() < 0.25:
                            self._condition(self._day(start, end), F.B12_DEFICIENCY)
                if r() < 0.3:
                    repeat_day = day + 60 + rng.randrange(90)
                    if repeat_day <= end:
                        queue.append((repeat_day, True))
        finals = [x for x in results if x["status"] == "final"]
        latest = max((x["date"] for x in finals), default=None)
        truth["b12_results"] = results
        truth["b12_band"] = (
            min((x["band"] for x in finals if x["date"] == latest), key=BAND_RANK.__getitem__)
            if finals
            else "untested"
        )
        truth["never_tested"] = not results
        truth["functional_tests"] = functional
        truth["not_final_results"] = not_final
        truth["b12_deficient"] = deficient
        truth["treatment"] = treat
        truth["treated_after"] = treated_after
        truth["intrinsic_factor_antibody"] = ifab
        return ifab == "positive"

    def _treatment(self, start: int, *, current: bool, reason: str) -> dict[str, Any]:
        product = self.rng.randrange(len(F.B12_PRODUCTS))
        status = "active" if current else "completed"
        self._order(start, F.B12_PRODUCTS[product], status, RELEVANT)
        return {"start": iso(start), "status": status, "reason": reason}

    def _folate(self, day: int, low: bool) -> None:
        r = self.rng.random
        ng_ml = round(1.5 + 1.3 * r(), 1) if low else round(4.0 + 14 * r(), 1)
        if r() < 0.6:
            unit, rr = F.FOLATE_MASS_UNIT
            self._quantity(day, F.CAT_LAB, F.FOLATE_MASS, ng_ml, unit, rr, tag=RELEVANT)
        else:
            unit, rr = F.FOLATE_MOLAR_UNIT
            value = round(ng_ml * 2.265, 1)
            self._quantity(day, F.CAT_LAB, F.FOLATE_MOLAR, value, unit, rr, tag=RELEVANT)

    def _blood_count(self, day: int, sex: str, deficient: bool) -> None:
        r = self.rng.random
        macro = deficient and r() < 0.4
        mcv = round(101 + 12 * r(), 1) if macro else round(82 + 15 * r(), 1)
        unit, rr = F.MCV_UNIT
        self._quantity(day, F.CAT_LAB, F.MCV, mcv, unit, rr, tag=RELEVANT)
        key = "male" if sex == "male" else "female"
        anaemic = deficient and r() < 0.35
        hb = round((9.0 + 2.5 * r()) if anaemic else (12.6 + 3.5 * r()), 1)
        if r() < 0.7:
            unit, rr = F.HB_G_DL[key]
            self._quantity(day, F.CAT_LAB, F.HB, hb, unit, rr, tag=RELEVANT)
        else:
            unit, rr = F.HB_G_L[key]
            self._quantity(day, F.CAT_LAB, F.HB, round(hb * 10), unit, rr, tag=RELEVANT)

    def _functional(self, day: int, deficient: bool) -> list[dict[str, Any]]:
        r = self.rng.random
        out: list[dict[str, Any]] = []
        if r() < 0.8:
            umol = (
                round(0.45 + 1.5 * r(), 2)
                if deficient and r() < 0.7
                else round(0.1 + 0.28 * r(), 2)
            )
            if r() < 0.5:
                unit, rr = F.MMA_UMOL
                value: float = umol
                u = "umol/L"
            else:
                unit, rr = F.MMA_NMOL
                value, u = round(umol * 1000), "nmol/L"
            self._quantity(day, F.CAT_LAB, F.MMA, value, unit, rr, tag=RELEVANT)
            out.append({"date": iso(day), "test": "mma", "value": value, "unit": u})
        if r() < 0.6:
            hcy = round(16 + 30 * r(), 1) if deficient and r() < 0.7 else round(6 + 8.5 * r(), 1)
            unit, rr = F.HCY_UNIT
            self._quantity(day, F.CAT_LAB, F.HOMOCYSTEINE, hcy, unit, rr, tag=RELEVANT)
            out.append({"date": iso(day), "test": "homocysteine", "value": hcy, "unit": "umol/L"})
        return out

    # ---- unrelated data --------------------------------------------------------------------

    def _routine(self, age: int, sex: str, t2dm: bool) -> None:
        rng = self.rng
        r = rng.random
        first, end = self.first, self.end
        n = 2 + rng.randrange(3 + age // 12)
        days = sorted({self._day(first, end) for _ in range(n)})
        smoker = F.SMOKING_VALUES[_pick(r(), (0.6, 0.85))]
        height = (150 + 30 * r()) if age >= 18 else (80 + 5 * age)
        weight = max(12.0, (height / 100) ** 2 * (19 + 14 * r()))
        for day in days:
            kind = F.ROUTINE_ENCOUNTERS[rng.randrange(3)]
            self._encounter(day, kind)
            self._blood_pressure(day, 105 + rng.randrange(45), 62 + rng.randrange(28))
            self._quantity(day, F.CAT_VITAL, F.HEART_RATE, 55 + rng.randrange(45), F.PER_MIN)
            w = round(weight * (0.95 + 0.1 * r()), 1)
            self._quantity(day, F.CAT_VITAL, F.WEIGHT, w, F.KG)
            self._quantity(day, F.CAT_VITAL, F.BMI, round(w / (height / 100) ** 2, 1), F.KG_M2)
            if r() < 0.3:
                self._quantity(day, F.CAT_VITAL, F.HEIGHT, round(height, 1), F.CM)
            if age >= 12 and r() < 0.5:
                self._valued(day, F.CAT_SOCIAL, F.SMOKING, f'"valueCodeableConcept":{smoker}')
            if age >= 18 and r() < 0.35:
                code, unit = F.GLUCOSE
                glucose = round((110 + 90 * r()) if t2dm else (72 + 30 * r()))
                self._quantity(day, F.CAT_LAB, code, glucose, unit, F.GLUCOSE_RANGE)
                code, unit = F.CREATININE
                creat = round(0.6 + 0.7 * r(), 2)
                self._quantity(day, F.CAT_LAB, code, creat, unit, F.CREATININE_RANGE)
                code, unit = F.CHOLESTEROL
                chol = round(140 + 110 * r())
                self._quantity(day, F.CAT_LAB, code, chol, unit, F.CHOLESTEROL_RANGE)
                if t2dm:
                    code, unit = F.HBA1C
                    self._quantity(day, F.CAT_LAB, code, round(6 + 3 * r(), 1), unit, F.HBA1C_RANGE)
                if r() < 0.3:
                    self._blood_count(day, sex, False)
            if r() < 0.3:
                self._immunization(day, F.VACCINES[_pick(r(), (0.6, 0.75, 0.85, 0.93))])
            if r() < 0.25:
                self._procedure(day, F.OTHER_PROCEDURES[rng.randrange(5)], tag="")
            if r() < 0.15:
                acute_day = self._day(day, min(end, day + 3))
                concept = F.ACUTE_CONDITIONS[rng.randrange(5)]
                self._condition(
                    acute_day,
                    concept,
                    abated=min(end, acute_day + 7 + rng.randrange(14)),
                    category=F.CAT_DIAGNOSIS,
                    tag="",
                )
                if r() < 0.5:
                    self._order(acute_day, F.ACUTE_MEDS[rng.randrange(4)], "completed", "")
        for _ in range(rng.randrange(3)):
            concept = F.OTHER_CONDITIONS[rng.randrange(len(F.OTHER_CONDITIONS))]
            self._condition(self._day(first, end), concept, tag="")
        if age >= 30 and r() < 0.25:
            self._condition(self._day(first, end), F.HYPERTENSION, tag="")
            self._course(
                F.LISINOPRIL if r() < 0.7 else F.HCTZ,
                self._day(first, end),
                end,
                current=True,
                tag="",
            )
        if age >= 30 and r() < 0.2:
            self._condition(self._day(first, end), F.HYPERLIPIDAEMIA, tag="")
            self._course(F.SIMVASTATIN, self._day(first, end), end, current=True, tag="")

    def _blood_pressure(self, day: int, systolic: int, diastolic: int) -> None:
        enc, t = self._encounter(day)
        self.lines.append(
            (
                "Observation",
                f'{{"resourceType":"Observation","id":"{self._id()}","status":"final",'
                f'"category":{F.CAT_VITAL},"code":{F.BP},{self._subj},{enc},'
                f'"effectiveDateTime":"{t}","issued":"{t}","component":['
                f'{{"code":{F.SYSTOLIC},"valueQuantity":{{"value":{systolic},{F.MMHG}}}}},'
                f'{{"code":{F.DIASTOLIC},"valueQuantity":{{"value":{diastolic},{F.MMHG}}}}}]}}',
                "",
            )
        )

    def _immunization(self, day: int, vaccine: str) -> None:
        enc, t = self._encounter(day)
        self.lines.append(
            (
                "Immunization",
                f'{{"resourceType":"Immunization","id":"{self._id()}","status":"completed",'
                f'"vaccineCode":{vaccine},"patient":{{"reference":"Patient/{self.pid}"}},{enc},'
                f'"occurrenceDateTime":"{t}","primarySource":true}}',
                "",
            )
        )

    def _malformed(self) -> None:
        """One patient in 97 (index 41, 138, ...: every population of 42 or more has some) gets
        one broken line: a truncated resource, a line that is not a JSON object, or an object
        without resourceType. It is an extra line, never one the ground truth relies on."""
        rng = self.rng
        if self.truth["index"] % 97 != 41:
            return
        kind = MALFORMED_KINDS[rng.randrange(3)]
        rtype = "Observation" if rng.random() < 0.7 else "Condition"
        oid = self._id()
        if kind == "truncated":
            full = (
                f'{{"resourceType":"{rtype}","id":"{oid}","status":"final",{self._subj},'
                f'"code":{F.HEART_RATE},"valueQuantity":{{"value":72,{F.PER_MIN}}}}}'
            )
            line = full[: len(full) // 2]
        elif kind == "not_object":
            line = f'["{rtype}","{oid}"]'
        else:
            line = f'{{"id":"{oid}",{self._subj},"code":{F.HEART_RATE}}}'
        position = rng.randrange(len(self.lines) + 1)
        self.lines.insert(position, (rtype, line, kind))
        self.truth["malformed"] = [{"resourceType": rtype, "kind": kind, "id": oid}]


def _pick(u: float, cuts: tuple[float, ...]) -> int:
    """Index of the first cut above u (len(cuts) when none): a cheap weighted choice."""
    for i, c in enumerate(cuts):
        if u < c:
            return i
    return len(cuts)
