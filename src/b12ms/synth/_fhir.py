"""JSON fragments for the synthetic FHIR R4 resources, built once at import.

The generator writes resources as text from these fragments instead of building dicts and
serialising them: every fixed string here was escaped once by `json.dumps` (ASCII only, so a
line's length in characters is its size in bytes), and the per-resource parts are ids, dates and
numbers. This is what makes about 100,000 patients a minute possible on one core.
"""

from __future__ import annotations

import json

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CVX = "http://hl7.org/fhir/sid/cvx"
UCUM = "http://unitsofmeasure.org"


def s(text: str) -> str:
    """A JSON string literal (ASCII, escaped)."""
    return json.dumps(text)


def cc(*codings: tuple[str, str, str], text: str | None = None) -> str:
    """A CodeableConcept: codings (system, code, display), and text (default: first display)."""
    out: dict[str, object] = {}
    if codings:
        out["coding"] = [{"system": sy, "code": co, "display": di} for sy, co, di in codings]
    if text is None and codings:
        text = codings[0][2]
    if text is not None:
        out["text"] = text
    return json.dumps(out, separators=(",", ":"))


def text_cc(text: str) -> str:
    """A CodeableConcept with text only."""
    return cc(text=text)


def unit(u: str) -> str:
    """The unit part of a UCUM Quantity (after "value")."""
    return f'"unit":{s(u)},"system":"{UCUM}","code":{s(u)}'


def ref_range(low: float | None, high: float | None, u: str) -> str:
    """A referenceRange element, with its leading comma."""
    parts = []
    if low is not None:
        parts.append(f'"low":{{"value":{low!r},{unit(u)}}}')
    if high is not None:
        parts.append(f'"high":{{"value":{high!r},{unit(u)}}}')
    return ',"referenceRange":[{' + ",".join(parts) + "}]"


def _category(system: str, code: str, display: str) -> str:
    return "[" + cc((system, code, display), text=display) + "]"


_OBS_CAT = "http://terminology.hl7.org/CodeSystem/observation-category"
CAT_LAB = _category(_OBS_CAT, "laboratory", "Laboratory")
CAT_VITAL = _category(_OBS_CAT, "vital-signs", "Vital signs")
CAT_SOCIAL = _category(_OBS_CAT, "social-history", "Social History")
_COND_CAT = "http://terminology.hl7.org/CodeSystem/condition-category"
CAT_PROBLEM = _category(_COND_CAT, "problem-list-item", "Problem List Item")
CAT_DIAGNOSIS = _category(_COND_CAT, "encounter-diagnosis", "Encounter Diagnosis")
CAT_COMMUNITY = _category(
    "http://terminology.hl7.org/CodeSystem/medicationrequest-category", "community", "Community"
)
_CLIN = "http://terminology.hl7.org/CodeSystem/condition-clinical"
ACTIVE = '{"coding":[{"system":"' + _CLIN + '","code":"active"}]}'
RESOLVED = '{"coding":[{"system":"' + _CLIN + '","code":"resolved"}]}'
CONFIRMED = (
    '{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status",'
    '"code":"confirmed"}]}'
)
AMB = '{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"}'

# Encounter types (SNOMED, as in Synthea exports).
ENC_CHECKUP = cc((SNOMED, "185349003", "Encounter for check up (procedure)"))
ENC_EXAM = cc((SNOMED, "162673000", "General examination of patient (procedure)"))
ENC_PROBLEM = cc((SNOMED, "185347001", "Encounter for problem (procedure)"))
ENC_SYMPTOM = cc((SNOMED, "185345009", "Encounter for symptom (procedure)"))
ENC_FOLLOWUP = cc((SNOMED, "390906007", "Follow-up encounter (procedure)"))
ROUTINE_ENCOUNTERS = (ENC_CHECKUP, ENC_EXAM, ENC_PROBLEM)

# Vital signs (LOINC).
BP = cc((LOINC, "85354-9", "Blood pressure panel with all children optional"))
SYSTOLIC = cc((LOINC, "8480-6", "Systolic blood pressure"))
DIASTOLIC = cc((LOINC, "8462-4", "Diastolic blood pressure"))
MMHG = unit("mm[Hg]")
HEART_RATE = cc((LOINC, "8867-4", "Heart rate"))
PER_MIN = unit("/min")
BMI = cc((LOINC, "39156-5", "Body mass index (BMI) [Ratio]"))
KG_M2 = unit("kg/m2")
WEIGHT = cc((LOINC, "29463-7", "Body Weight"))
KG = unit("kg")
HEIGHT = cc((LOINC, "8302-2", "Body Height"))
CM = unit("cm")

# Other laboratory tests (LOINC): (code, unit, reference range).
GLUCOSE = (cc((LOINC, "2339-0", "Glucose [Mass/volume] in Blood")), unit("mg/dL"))
GLUCOSE_RANGE = ref_range(70.0, 99.0, "mg/dL")
HBA1C = (cc((LOINC, "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood")), unit("%"))
HBA1C_RANGE = ref_range(4.0, 5.6, "%")
CREATININE = (
    cc((LOINC, "2160-0", "Creatinine [Mass/volume] in Serum or Plasma")),
    unit("mg/dL"),
)
CREATININE_RANGE = ref_range(0.6, 1.3, "mg/dL")
CHOLESTEROL = (
    cc((LOINC, "2093-3", "Cholesterol [Mass/volume] in Serum or Plasma")),
    unit("mg/dL"),
)
CHOLESTEROL_RANGE = ref_range(None, 200.0, "mg/dL")

# B12 and the tests around it: name -> (test id of the knowledge base, LOINC code, unit,
# family for NICE bands, code fragment, unit fragment, reference range fragment).
B12_TOTAL = cc((LOINC, "2132-9", "Cobalamin (Vitamin B12) [Mass/volume] in Serum or Plasma"))
B12_TOTAL_MOLAR = cc(
    (LOINC, "14685-2", "Cobalamin (Vitamin B12) [Moles/volume] in Serum or Plasma")
)
B12_ACTIVE = cc((LOINC, "72160-5", "Holo-transcobalamin II [Moles/volume] in Serum"))
B12_TESTS: dict[str, tuple[str, str, str, str, str, str, str]] = {
    "total_pg_ml": (
        "total_b12",
        "2132-9",
        "pg/mL",
        "mass",
        B12_TOTAL,
        unit("pg/mL"),
        ref_range(180.0, 914.0, "pg/mL"),
    ),
    "total_ng_l": (
        "total_b12",
        "2132-9",
        "ng/L",
        "mass",
        B12_TOTAL,
        unit("ng/L"),
        ref_range(180.0, 914.0, "ng/L"),
    ),
    "total_pmol_l": (
        "total_b12",
        "14685-2",
        "pmol/L",
        "molar",
        B12_TOTAL_MOLAR,
        unit("pmol/L"),
        ref_range(133.0, 675.0, "pmol/L"),
    ),
    "active_pmol_l": (
        "active_b12",
        "72160-5",
        "pmol/L",
        "active",
        B12_ACTIVE,
        unit("pmol/L"),
        ref_range(25.0, 165.0, "pmol/L"),
    ),
}
MMA = cc((LOINC, "13964-2", "Methylmalonic acid [Moles/volume] in Serum or Plasma"))
MMA_NMOL = (unit("nmol/L"), ref_range(0.0, 400.0, "nmol/L"))
MMA_UMOL = (unit("umol/L"), ref_range(0.0, 0.4, "umol/L"))
HOMOCYSTEINE = cc((LOINC, "13965-9", "Homocysteine [Moles/volume] in Serum or Plasma"))
HCY_UNIT = (unit("umol/L"), ref_range(5.0, 15.0, "umol/L"))
FOLATE_MASS = cc((LOINC, "2284-8", "Folate [Mass/volume] in Serum or Plasma"))
FOLATE_MASS_UNIT = (unit("ng/mL"), ref_range(3.0, 20.0, "ng/mL"))
FOLATE_MOLAR = cc((LOINC, "14732-2", "Folate [Moles/volume] in Serum or Plasma"))
FOLATE_MOLAR_UNIT = (unit("nmol/L"), ref_range(7.0, 45.0, "nmol/L"))
MCV = cc((LOINC, "787-2", "MCV [Entitic volume] by Automated count"))
MCV_UNIT = (unit("fL"), ref_range(80.0, 100.0, "fL"))
HB = cc((LOINC, "718-7", "Hemoglobin [Mass/volume] in Blood"))
HB_G_DL = {
    "female": (unit("g/dL"), ref_range(12.0, 15.5, "g/dL")),
    "male": (unit("g/dL"), ref_range(13.5, 17.5, "g/dL")),
}
HB_G_L = {
    "female": (unit("g/L"), ref_range(120.0, 155.0, "g/L")),
    "male": (unit("g/L"), ref_range(135.0, 175.0, "g/L")),
}
IFAB = cc((LOINC, "31443-5", "Intrinsic Factor Abs, Serum"))
POSITIVE = cc((SNOMED, "10828004", "Positive (qualifier value)"), text="Positive")
NEGATIVE = cc((SNOMED, "260385009", "Negative (qualifier value)"), text="Negative")

# Social history.
SMOKING = cc((LOINC, "72166-2", "Tobacco smoking status"))
SMOKING_VALUES = (
    cc((SNOMED, "266919005", "Never smoked tobacco (finding)")),
    cc((SNOMED, "8517006", "Ex-smoker (finding)")),
    cc((SNOMED, "449868002", "Smokes tobacco daily (finding)")),
)
DIET = text_cc("Diet")
DRUG_USE = text_cc("Recreational drug use")
NITROUS_USE = text_cc("Nitrous oxide use")

# Multiple sclerosis: several ways a record says it.
MS_CODES = (
    cc((SNOMED, "24700007", "Multiple sclerosis (disorder)")),
    cc((ICD10CM, "G35.A", "Relapsing-remitting multiple sclerosis")),
    cc((ICD10CM, "G35.C0", "Secondary progressive multiple sclerosis, unspecified")),
    cc((ICD10CM, "G35.B0", "Primary progressive multiple sclerosis, unspecified")),
    cc(
        (SNOMED, "24700007", "Multiple sclerosis (disorder)"),
        (ICD10CM, "G35.D", "Multiple sclerosis, unspecified"),
        text="Multiple sclerosis",
    ),
    text_cc("Relapsing remitting multiple sclerosis"),
)

# MS-like symptoms: (concept, the knowledge base's symptom ids it stands for).
SYMPTOMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (text_cc("Numbness of left leg"), ("symptom.numbness",)),
    (text_cc("Numbness in both hands"), ("symptom.numbness",)),
    (text_cc("Pins and needles in both feet"), ("symptom.paraesthesia",)),
    (text_cc("Tingling in fingers"), ("symptom.paraesthesia",)),
    (text_cc("Paraesthesia of lower limbs"), ("symptom.paraesthesia",)),
    (
        text_cc("Numbness and tingling in both feet"),
        ("symptom.numbness", "symptom.paraesthesia"),
    ),
    (text_cc("Leg weakness"), ("symptom.weakness",)),
    (text_cc("Unsteady gait"), ("symptom.gait_balance",)),
    (text_cc("Poor balance"), ("symptom.gait_balance",)),
    (cc((SNOMED, "84229001", "Fatigue (finding)")), ("symptom.fatigue",)),
    (text_cc("Tiredness"), ("symptom.fatigue",)),
    (text_cc("Blurred vision"), ("symptom.vision",)),
    (text_cc("Memory problems"), ("symptom.cognitive",)),
    (text_cc("Brain fog"), ("symptom.cognitive",)),
    (text_cc("Lhermitte's sign"), ("symptom.lhermitte",)),
    (text_cc("Low mood"), ("symptom.psychological",)),
    (text_cc("Sore tongue"), ("symptom.glossitis",)),
)
NOT_MS_LIKE = frozenset({"symptom.glossitis"})

# Medicines (RxNorm product level where the knowledge base has the code, else product text).
METFORMIN = cc(
    (RXNORM, "860975", "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet")
)
PPIS = tuple(
    text_cc(t)
    for t in (
        "omeprazole 20 MG Delayed Release Oral Capsule",
        "lansoprazole 30 MG Delayed Release Oral Capsule",
        "pantoprazole 40 MG Delayed Release Oral Tablet",
        "esomeprazole 40 MG Delayed Release Oral Capsule",
    )
)
H2RAS = tuple(
    text_cc(t)
    for t in (
        "famotidine 20 MG Oral Tablet",
        "ranitidine 150 MG Oral Tablet",
        "cimetidine 400 MG Oral Tablet",
    )
)
COLCHICINE = text_cc("colchicine 0.6 MG Oral Tablet")
TOPIRAMATE = text_cc("topiramate 25 MG Oral Tablet")
PREGABALIN = text_cc("pregabalin 75 MG Oral Capsule")
S1P = (
    cc((RXNORM, "1012895", "fingolimod 0.5 MG Oral Capsule")),
    text_cc("siponimod 2 MG Oral Tablet"),
    text_cc("ozanimod 0.92 MG Oral Capsule"),
)
OTHER_MS_DRUGS = (
    text_cc("dimethyl fumarate 240 MG Delayed Release Oral Capsule"),
    text_cc("teriflunomide 14 MG Oral Tablet"),
    text_cc("glatiramer acetate 20 MG/ML Prefilled Syringe"),
)
B12_PRODUCTS = (
    cc((RXNORM, "2001499", "Vitamin B12 5 MG/ML Injectable Solution")),
    cc((RXNORM, "309594", "cyanocobalamin 1000 mcg/mL injection")),
    text_cc("hydroxocobalamin 1 MG/ML Injectable Solution"),
    text_cc("cyanocobalamin 1000 MCG Oral Tablet"),
)
INSULIN = cc(
    (
        RXNORM,
        "106892",
        "insulin isophane, human 70 UNT/ML / insulin, regular, human 30 UNT/ML Injectable "
        "Suspension [Humulin]",
    )
)
LISINOPRIL = cc((RXNORM, "314076", "lisinopril 10 MG Oral Tablet"))
SIMVASTATIN = cc((RXNORM, "314231", "Simvastatin 10 MG Oral Tablet"))
HCTZ = cc((RXNORM, "310798", "Hydrochlorothiazide 25 MG Oral Tablet"))
ACUTE_MEDS = (
    cc((RXNORM, "313782", "Acetaminophen 325 MG Oral Tablet")),
    cc((RXNORM, "198405", "Ibuprofen 100 MG Oral Tablet")),
    cc((RXNORM, "308192", "Amoxicillin 500 MG Oral Tablet")),
    cc((RXNORM, "849574", "Naproxen sodium 220 MG Oral Tablet")),
)

# Conditions behind risk factors.
PERNICIOUS_ANAEMIA = (
    cc((ICD10, "D51.0", "Vitamin B12 deficiency anaemia due to intrinsic factor deficiency")),
    cc((SNOMED, "84027009", "Pernicious anemia")),
)
COELIAC = cc((ICD10, "K90.0", "Coeliac disease"))
CROHNS = cc((SNOMED, "34000006", "Crohn's disease (disorder)"))
BARIATRIC_STATUS = cc((ICD10CM, "Z98.84", "Bariatric surgery status"))
BARIATRIC_PROCEDURES = (
    text_cc("Sleeve gastrectomy"),
    text_cc("Laparoscopic Roux-en-Y gastric bypass"),
)
ILEAL_PROCEDURES = (text_cc("Ileocaecal resection"), text_cc("Resection of terminal ileum"))
RADIOTHERAPY = (text_cc("Pelvic radiotherapy"), text_cc("Radiotherapy to the abdomen"))
AUTOIMMUNE = (
    text_cc("Type 1 diabetes mellitus"),
    text_cc("Hypothyroidism"),
    text_cc("Hashimoto's thyroiditis"),
    text_cc("Graves' disease"),
    text_cc("Sjögren's syndrome"),
    text_cc("Vitiligo"),
)
ALCOHOL = (
    cc((ICD10CM, "F10.20", "Alcohol dependence, uncomplicated")),
    cc((SNOMED, "10939881000119105", "Unhealthy alcohol drinking behavior (finding)")),
)
FAMILY_HISTORY_PA = text_cc("Family history of pernicious anaemia")
PREGNANCY = cc((SNOMED, "72892002", "Normal pregnancy"))
B12_DEFICIENCY = cc((ICD10CM, "D51.9", "Vitamin B12 deficiency anemia, unspecified"))
TYPE2_DIABETES = cc((SNOMED, "44054006", "Diabetes mellitus type 2 (disorder)"))
GERD = cc((SNOMED, "235595009", "Gastroesophageal reflux disease (disorder)"))
GOUT = cc((SNOMED, "90560007", "Gout (disorder)"))
MIGRAINE = cc((SNOMED, "37796009", "Migraine (disorder)"))
HYPERTENSION = cc((SNOMED, "59621000", "Essential hypertension (disorder)"))
HYPERLIPIDAEMIA = cc((SNOMED, "55822004", "Hyperlipidemia (disorder)"))

# Unrelated conditions (none names anything the knowledge base looks for).
OTHER_CONDITIONS = (
    cc((SNOMED, "160903007", "Full-time employment (finding)")),
    cc((SNOMED, "160904001", "Part-time employment (finding)")),
    cc((SNOMED, "73595000", "Stress (finding)")),
    cc((SNOMED, "224299000", "Received higher education (finding)")),
    cc((SNOMED, "162864005", "Body mass index 30+ - obesity (finding)")),
    cc((SNOMED, "278860009", "Chronic low back pain (finding)")),
    cc((SNOMED, "57676002", "Joint pain (finding)")),
    cc((SNOMED, "40055000", "Chronic sinusitis (disorder)")),
)
ACUTE_CONDITIONS = (
    cc((SNOMED, "195662009", "Acute viral pharyngitis (disorder)")),
    cc((SNOMED, "444814009", "Viral sinusitis (disorder)")),
    cc((SNOMED, "10509002", "Acute bronchitis (disorder)")),
    cc((SNOMED, "44465007", "Sprain of ankle (disorder)")),
    cc((SNOMED, "301011002", "Escherichia coli urinary tract infection (disorder)")),
)

# Unrelated procedures and immunizations (as in Synthea exports).
OTHER_PROCEDURES = (
    cc((SNOMED, "430193006", "Medication Reconciliation (procedure)")),
    cc((SNOMED, "171207006", "Depression screening (procedure)")),
    cc((SNOMED, "428211000124100", "Assessment of substance use (procedure)")),
    cc((SNOMED, "710824005", "Assessment of health and social care needs (procedure)")),
    cc((SNOMED, "73761001", "Colonoscopy (procedure)")),
)
VACCINES = (
    cc((CVX, "140", "Influenza, seasonal, injectable, preservative free")),
    cc(
        (
            CVX,
            "208",
            "SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, "
            "30 mcg/0.3mL dose",
        )
    ),
    cc((CVX, "113", "Td (adult), 5 Lf tetanus toxoid, preservative free, adsorbed")),
    cc((CVX, "121", "zoster vaccine, live")),
    cc((CVX, "33", "pneumococcal polysaccharide vaccine, 23 valent")),
)

GIVEN = {
    "female": ("Amelia", "Olivia", "Grace", "Maria", "Aisha", "Chloe", "Fatima", "Ruth", "Zoe"),
    "male": ("Oliver", "Jack", "Mohammed", "Noah", "Arthur", "Leo", "David", "Ravi", "Tom"),
}
FAMILY = (
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Khan",
    "Patel",
    "Evans",
    "Okafor",
    "Nowak",
    "Murphy",
)
TIME_ZONES = ("+00:00", "+01:00", "-05:00", "-04:00", "Z")
