"""FHIR R4 mapping: vitals + NEWS2 fully, lab results, surveys; our LOINC <-> UCUM checks bite."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from datacenter.fhir import (
    BP_PANEL,
    LOINC,
    VITALS_PANEL,
    FhirValidationError,
    MappingError,
    check_codes,
    fhir_id,
    make_bundle,
    record_to_resources,
    register_record_type,
    validate_resource,
)

VITALS: dict[str, Any] = {
    "record_id": "m-0003.bed-12",
    "record_type": "vitals",
    "patient_ref": "pt-3fa9c2",
    "bed_ref": "bed-12",
    "observations": {
        "on_oxygen": False, "spo2_scale": 1, "consciousness_acvpu": "A", "temperature_c": 38.4,
        "temperature_site": "tympanic", "spo2_pct": 93, "pulse_bpm": 112, "resp_rate_per_min": 24,
        "systolic_mmhg": 101, "diastolic_mmhg": 66, "measured_at": "2026-01-05T08:12:30.000Z",
    },
    "news2": {"total": 7, "risk": "high", "per_parameter": {"respiration_rate": 2, "spo2": 2, "pulse": 2,
                                                             "temperature": 1}, "response": "emergency"},
}
LAB: dict[str, Any] = {
    "record_id": "m-0009.s-0001",
    "record_type": "lab_result",
    "patient_ref": "pt-77aa01",
    "bed_ref": None,
    "observations": {"sample_id": "s-0001", "specimen": "serum", "analyzer": "chem-1", "priority": "routine",
                     "measured_at": "2026-01-05T09:00:00.000Z", "k_mmol_per_l": 6.8, "k_flag": "HH",
                     "na_mmol_per_l": 139.0, "na_flag": "N", "crea_umol_per_l": None, "complete": False,
                     "incomplete_reason": "CREA: haemolysed"},
    "news2": None,
}


def _codes(resource: dict[str, Any]) -> set[str]:
    return {c["code"] for c in resource["code"].get("coding", [])}


def test_vitals_become_loinc_observations_with_ucum_units_a_bp_panel_and_news2() -> None:
    resources = [validate_resource(r) for r in record_to_resources(VITALS, "nurse-1", "2026-01-05T08:12:31.000Z")]
    by_code = {next(iter(_codes(r))): r for r in resources}
    assert by_code["9279-1"]["valueQuantity"] == {"value": 24, "unit": "/min", "system": "http://unitsofmeasure.org",
                                                  "code": "/min"}
    assert by_code["8867-4"]["valueQuantity"]["code"] == "/min"
    assert by_code["8310-5"]["valueQuantity"]["code"] == "Cel"
    assert {c["code"] for c in next(r for r in resources if "2708-6" in _codes(r))["code"]["coding"]} == {
        "2708-6", "59408-5"}
    bp = by_code[BP_PANEL[0]]
    assert "valueQuantity" not in bp
    assert [(c["code"]["coding"][0]["code"], c["valueQuantity"]["value"], c["valueQuantity"]["code"])
            for c in bp["component"]] == [("8480-6", 101, "mm[Hg]"), ("8462-4", 66, "mm[Hg]")]
    panel = by_code[VITALS_PANEL[0]]
    assert len(panel["hasMember"]) == 5  # resp, pulse, spo2, temperature, BP panel
    news2 = next(r for r in resources if r["code"]["coding"][0]["system"] == "http://snomed.info/sct")
    assert news2["valueInteger"] == 7 and news2["category"][0]["coding"][0]["code"] == "survey"
    assert all(r["subject"]["reference"] == "Patient/pt-3fa9c2" for r in resources)
    assert all(r["effectiveDateTime"] == "2026-01-05T08:12:30Z" or r["effectiveDateTime"].startswith(
        "2026-01-05T08:12:30") for r in resources)
    assert all(r["category"][0]["coding"][0]["code"] in ("vital-signs", "survey") for r in resources)


def test_incomplete_vitals_have_no_news2_and_no_bp_panel() -> None:
    record = copy.deepcopy(VITALS)
    del record["observations"]["systolic_mmhg"]
    record["news2"] = None
    resources = record_to_resources(record, "nurse-1", "2026-01-05T08:12:31.000Z")
    assert not [r for r in resources if BP_PANEL[0] in _codes(r)]
    assert not [r for r in resources if "valueInteger" in r]


def test_our_checks_catch_a_wrong_unit_a_valued_panel_and_a_bad_status() -> None:
    obs = record_to_resources(VITALS, "nurse-1", "2026-01-05T08:12:31.000Z")
    hr = next(r for r in obs if "8867-4" in _codes(r))
    wrong = {**hr, "valueQuantity": {**hr["valueQuantity"], "code": "Hz", "unit": "Hz"}}
    assert any("needs UCUM '/min'" in p for p in check_codes(wrong))
    with pytest.raises(FhirValidationError, match="needs UCUM"):
        validate_resource(wrong)
    bp = next(r for r in obs if BP_PANEL[0] in _codes(r))
    assert any("must not carry a value" in p for p in check_codes({**bp, "valueQuantity": hr["valueQuantity"]}))
    assert any("exactly the systolic" in p for p in check_codes({**bp, "component": bp["component"][:1]}))
    assert any("not an Observation status" in p for p in check_codes({**hr, "status": "done"}))
    with pytest.raises(FhirValidationError):
        validate_resource({**hr, "subject": "Patient/pt-3fa9c2"})  # structure: fhir.resources says no
    unknown_code = {**hr, "code": {"coding": [{"system": LOINC, "code": "1234-5"}]}}
    assert any("not in our code table" in p for p in check_codes(unknown_code))


def test_unknown_measurements_and_record_types_are_errors_not_silence() -> None:
    record = copy.deepcopy(VITALS)
    record["observations"]["lactate_mmol_per_l"] = 2.1
    with pytest.raises(MappingError, match="lactate_mmol_per_l"):
        record_to_resources(record, "nurse-1", "2026-01-05T08:12:31.000Z")
    with pytest.raises(MappingError, match="no FHIR mapping for record_type 'xray'"):
        record_to_resources({**VITALS, "record_type": "xray"}, "nurse-1", "2026-01-05T08:12:31.000Z")
    with pytest.raises(ValueError, match="already registered"):
        register_record_type("vitals", lambda record, ctx: [])


def test_lab_results_become_observations_and_a_partial_diagnostic_report() -> None:
    resources = [validate_resource(r) for r in record_to_resources(LAB, "lab-1", "2026-01-05T09:00:01.000Z")]
    report = resources[-1]
    assert report["resourceType"] == "DiagnosticReport" and report["status"] == "partial"
    assert len(report["result"]) == 2  # creatinine was not released
    potassium = next(r for r in resources if "2823-3" in _codes(r))
    assert potassium["valueQuantity"]["code"] == "mmol/L"
    assert potassium["interpretation"][0]["coding"][0]["code"] == "HH"
    assert potassium["category"][0]["coding"][0]["code"] == "laboratory"


def test_survey_report_becomes_a_questionnaire_response_and_bundles_validate() -> None:
    survey = {"record_id": "m-0010.survey", "record_type": "survey_report", "patient_ref": "pt-0badc0de",
              "bed_ref": None, "observations": {"questionnaire": "covid-case", "fever": True, "days_ill": 3,
                                                "temperature_c": 38.1, "travel": "none"}, "news2": None}
    qr = validate_resource(record_to_resources(survey, "epi-1", "2026-01-05T10:00:00.000Z")[0])
    assert qr["resourceType"] == "QuestionnaireResponse" and qr["status"] == "completed"
    assert {i["linkId"] for i in qr["item"]} == {"fever", "days_ill", "temperature_c", "travel"}
    vitals = [validate_resource(r) for r in record_to_resources(VITALS, "n", "2026-01-05T08:12:31.000Z")]
    bundle = make_bundle([*vitals, qr], bundle_id="pt-3fa9c2.day", timestamp="2026-01-05T23:59:59.000Z")
    assert bundle["type"] == "collection" and len(bundle["entry"]) == len(vitals) + 1
    assert len(fhir_id("x" * 100)) == 64 and fhir_id("m-1.bed 12") == "m-1.bed-12"
