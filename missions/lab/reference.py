"""The small test menu of the lab robot: units, specimen, reference interval, critical limits.

Adult reference intervals and critical (panic) limits as commonly published by hospital labs;
a real site loads its own from the LIS. Critical limits are the ones that must be phoned to the
ward at once (ISO 15189 5.9.1). A value is flagged by this table, not only by the instrument's
own flag: the robot takes the more severe of the two, so a mis-configured analyzer cannot hide a
critical value.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from hal.analyzer import AnalyzerResult


class Specimen(enum.StrEnum):
    SERUM = "serum"  # gold/red top: clotted, centrifuged before analysis
    WHOLE_BLOOD = "whole_blood"  # lavender top (EDTA): haematology, never centrifuged


@dataclass(frozen=True, slots=True)
class LabTest:
    code: str
    name: str
    units: str
    observation_key: str  # name_with_unit in the clinical record
    specimen: Specimen
    ref_low: float | None
    ref_high: float | None
    critical_low: float | None
    critical_high: float | None

    @property
    def needs_centrifuge(self) -> bool:
        return self.specimen is Specimen.SERUM


TEST_MENU: dict[str, LabTest] = {
    t.code: t
    for t in (
        LabTest("GLU", "glucose", "mmol/L", "glu_mmol_per_l", Specimen.SERUM, 3.9, 6.1, 2.5, 25.0),
        LabTest("K", "potassium", "mmol/L", "k_mmol_per_l", Specimen.SERUM, 3.5, 5.1, 2.8, 6.2),
        LabTest("NA", "sodium", "mmol/L", "na_mmol_per_l", Specimen.SERUM, 136.0, 145.0, 120.0, 160.0),
        LabTest("CREA", "creatinine", "umol/L", "crea_umol_per_l", Specimen.SERUM, 45.0, 110.0, None, 600.0),
        LabTest("CRP", "C-reactive protein", "mg/L", "crp_mg_per_l", Specimen.SERUM, None, 5.0, None, None),
        # hs-cTnT: 14 ng/L is the 99th percentile; 52 ng/L the ESC 0/1 h "rule-in" level
        LabTest("TROP", "troponin T (hs)", "ng/L", "trop_ng_per_l", Specimen.SERUM, None, 14.0, None, 52.0),
        LabTest("HB", "haemoglobin", "g/L", "hb_g_per_l", Specimen.WHOLE_BLOOD, 120.0, 170.0, 70.0, 200.0),
        LabTest("WBC", "white cell count", "10*9/L", "wbc_e9_per_l", Specimen.WHOLE_BLOOD, 4.0, 11.0, 2.0, 30.0),
        LabTest("PLT", "platelets", "10*9/L", "plt_e9_per_l", Specimen.WHOLE_BLOOD, 150.0, 400.0, 20.0, 1000.0),
    )
}

#: flag severity, worst last
_FLAG_RANK = {"": 0, "N": 0, "L": 1, "H": 1, "A": 1, "LL": 2, "HH": 2}


def lab_test(code: str) -> LabTest:
    try:
        return TEST_MENU[code]
    except KeyError:
        raise KeyError(f"unknown test {code!r}; the menu has {', '.join(TEST_MENU)}") from None


def flag_for(definition: LabTest, value: float) -> str:
    """N, L, H, or LL / HH beyond a critical limit (limits are exclusive: K 6.2 is H, 6.3 HH)."""
    if definition.critical_low is not None and value < definition.critical_low:
        return "LL"
    if definition.critical_high is not None and value > definition.critical_high:
        return "HH"
    if definition.ref_low is not None and value < definition.ref_low:
        return "L"
    if definition.ref_high is not None and value > definition.ref_high:
        return "H"
    return "N"


def reference_text(definition: LabTest) -> str:
    low = "" if definition.ref_low is None else f"{definition.ref_low:g}"
    high = "" if definition.ref_high is None else f"{definition.ref_high:g}"
    return f"{low} to {high}".strip() if low else f"<= {high}"


@dataclass(frozen=True, slots=True)
class ValidatedResult:
    test_code: str
    value: float | None
    units: str
    flag: str  # N L H LL HH, or "" when not reportable
    critical: bool
    reportable: bool
    problem: str | None  # why it cannot be released (instrument comment, units, status)
    observation_key: str


def validate_result(result: AnalyzerResult) -> ValidatedResult:
    """Check one patient result against the menu: known test, same units, a number, final status.
    A result that fails any check is not released (the tube goes to manual handling)."""
    definition = lab_test(result.test_code)
    value = result.numeric_value()
    problem: str | None = None
    if result.units != definition.units:
        problem = f"units {result.units!r} where {definition.units!r} is expected"
    elif value is None or not math.isfinite(value):
        problem = f"instrument reported {result.value!r}"
    elif result.status not in ("F", "C"):
        problem = f"result status {result.status!r} is not final"
    if problem is not None or value is None:
        return ValidatedResult(result.test_code, None, result.units, "", False, False, problem,
                               definition.observation_key)
    flag = flag_for(definition, value)
    instrument_flag = result.abnormal_flags.strip().upper()
    if _FLAG_RANK.get(instrument_flag, 0) > _FLAG_RANK[flag]:
        flag = instrument_flag  # the instrument saw worse: believe the more severe
    return ValidatedResult(result.test_code, value, result.units, flag, flag in ("LL", "HH"), True, None,
                           definition.observation_key)


def critical_limit_text(definition: LabTest, flag: str) -> str:
    if flag == "HH" and definition.critical_high is not None:
        return f"> {definition.critical_high:g}"
    if flag == "LL" and definition.critical_low is not None:
        return f"< {definition.critical_low:g}"
    return "instrument critical flag"
