"""Clinical records -> FHIR R4 resources (DOMAIN.md §4), validated, and Bundles per patient and period.

Table-driven: :data:`RECORD_MAPPERS` maps a clinical ``record_type`` to a function that turns one
record into resources; a new robot kind plugs its record type in with :func:`register_record_type`.
Vitals + NEWS2 (nursing rounds), lab results (Observation + DiagnosticReport), survey reports and
the bedside nursing inquiry (QuestionnaireResponse) are mapped here. Measurements are looked up by the
record's unit-suffixed observation names in code tables (:data:`VITAL_SIGNS`, :data:`LAB_TESTS`); a
name no table knows is an error, never silently dropped.

``fhir.resources`` (R4B, wire-compatible with R4 for these resources) checks structure only, so
:func:`check_codes` adds what it does not: every LOINC code carries the UCUM unit our table pairs it
with (system ``http://unitsofmeasure.org``), panels carry no value, and statuses are real codes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


@dataclass(frozen=True, slots=True)
class Measure:
    key: str  # observation name in the record, unit-suffixed
    loinc: str
    display: str
    ucum: str
    category: str = "vital-signs"
    extra_loinc: tuple[tuple[str, str], ...] = ()  # further codings (e.g. 59408-5 pulse oximetry)


VITAL_SIGNS: tuple[Measure, ...] = (
    Measure("resp_rate_per_min", "9279-1", "Respiratory rate", "/min"),
    Measure("pulse_bpm", "8867-4", "Heart rate", "/min"),
    Measure("spo2_pct", "2708-6", "Oxygen saturation in Arterial blood", "%",
            extra_loinc=(("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),)),
    Measure("temperature_c", "8310-5", "Body temperature", "Cel"),
    Measure("weight_kg", "29463-7", "Body weight", "kg"),
    # bedside glucose is a laboratory observation, not a vital sign
    Measure("glucose_mmol_per_l", "15074-8", "Glucose [Moles/volume] in Blood", "mmol/L", category="laboratory"),
)
BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
BP_SYSTOLIC = Measure("systolic_mmhg", "8480-6", "Systolic blood pressure", "mm[Hg]")
BP_DIASTOLIC = Measure("diastolic_mmhg", "8462-4", "Diastolic blood pressure", "mm[Hg]")
VITALS_PANEL = ("85353-1", "Vital signs, weight, height, head circumference, oxygen saturation and BMI panel")
NEWS2_CODE = ("1104051000000101", "Royal College of Physicians NEWS2 (National Early Warning Score 2) total score")
#: record fields that are context for NEWS2, not measurements of their own
VITALS_CONTEXT_KEYS = frozenset({"on_oxygen", "spo2_scale", "consciousness_acvpu", "temperature_site", "measured_at",
                                 "complete", "incomplete_reason"})
#: questionnaire record fields that are about the interview, not answers
SURVEY_CONTEXT_KEYS = frozenset({"measured_at", "asked_at", "questionnaire", "complete", "incomplete_reason"})

#: keyed by the lab robot's observation names (missions/lab/reference.py TEST_MENU)
LAB_TESTS: tuple[Measure, ...] = (
    Measure("glu_mmol_per_l", "14749-6", "Glucose [Moles/volume] in Serum or Plasma", "mmol/L", "laboratory"),
    Measure("k_mmol_per_l", "2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", "laboratory"),
    Measure("na_mmol_per_l", "2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", "laboratory"),
    Measure("crea_umol_per_l", "14682-9", "Creatinine [Moles/volume] in Serum or Plasma", "umol/L", "laboratory"),
    Measure("crp_mg_per_l", "1988-5", "C reactive protein [Mass/volume] in Serum or Plasma", "mg/L", "laboratory"),
    Measure("trop_ng_per_l", "67151-1",
            "Troponin T.cardiac [Mass/volume] in Serum or Plasma by High sensitivity method", "ng/L", "laboratory"),
    Measure("hb_g_per_l", "718-7", "Hemoglobin [Mass/volume] in Blood", "g/L", "laboratory"),
    Measure("wbc_e9_per_l", "6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*9/L", "laboratory"),
    Measure("plt_e9_per_l", "777-3", "Platelets [#/volume] in Blood by Automated count", "10*9/L", "laboratory"),
)
#: lab record fields that describe the sample, not a result (``<test>_flag`` fields become interpretations)
LAB_CONTEXT_KEYS = frozenset({"sample_id", "specimen", "analyzer", "priority", "measured_at", "complete",
                              "incomplete_reason"})
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
LAB_REPORT_CODE = ("11502-2", "Laboratory report")

#: LOINC code -> the UCUM unit it must carry (None: a panel, which carries no value)
LOINC_UNITS: dict[str, str | None] = {
    **{m.loinc: m.ucum for m in (*VITAL_SIGNS, *LAB_TESTS, BP_SYSTOLIC, BP_DIASTOLIC)},
    **{code: m.ucum for m in VITAL_SIGNS for code, _ in m.extra_loinc},
    "41653-7": "mg/dL",
    BP_PANEL[0]: None,
    VITALS_PANEL[0]: None,
}
OBSERVATION_STATUSES = frozenset({"registered", "preliminary", "final", "amended", "corrected", "cancelled",
                                  "entered-in-error", "unknown"})


class MappingError(ValueError):
    """A clinical record that cannot be turned into FHIR (unknown record type or measurement)."""


class FhirValidationError(ValueError):
    def __init__(self, resource_id: str, problems: list[str]) -> None:
        self.resource_id = resource_id
        self.problems = problems
        super().__init__(f"{resource_id}: " + "; ".join(problems))


@dataclass(frozen=True, slots=True)
class RecordContext:
    robot_id: str
    effective: str  # ISO 8601 UTC: when it was measured


RecordMapper = Callable[[dict[str, Any], RecordContext], list[dict[str, Any]]]
RECORD_MAPPERS: dict[str, RecordMapper] = {}


def register_record_type(record_type: str, mapper: RecordMapper) -> None:
    if record_type in RECORD_MAPPERS:
        raise ValueError(f"a FHIR mapper for record_type {record_type!r} is already registered")
    RECORD_MAPPERS[record_type] = mapper


def fhir_id(*parts: str) -> str:
    """A FHIR id (``[A-Za-z0-9.-]{1,64}``) from our ids: deterministic, hashed when too long."""
    raw = re.sub(r"[^A-Za-z0-9.-]", "-", ".".join(parts))
    return raw if len(raw) <= 64 else f"{raw[:47]}.{hashlib.sha256(raw.encode()).hexdigest()[:16]}"


def _quantity(value: float, ucum: str) -> dict[str, Any]:
    return {"value": value, "unit": ucum, "system": UCUM, "code": ucum}


def _category(code: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": OBS_CATEGORY, "code": code}]}]


def _observation(oid: str, record: dict[str, Any], ctx: RecordContext, category: str,
                 codings: list[dict[str, str]], text: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": _category(category),
        "code": {"coding": codings, "text": text},
        "subject": {"reference": f"Patient/{record['patient_ref']}"},
        "effectiveDateTime": ctx.effective,
        "performer": [{"display": f"medbot robot {ctx.robot_id}"}],
        "identifier": [{"system": "urn:medbot:record", "value": record["record_id"]}],
    }


def _measure_observation(m: Measure, value: Any, record: dict[str, Any], ctx: RecordContext) -> dict[str, Any]:
    codings = [{"system": LOINC, "code": m.loinc, "display": m.display}]
    codings += [{"system": LOINC, "code": c, "display": d} for c, d in m.extra_loinc]
    obs = _observation(fhir_id(record["record_id"], m.loinc), record, ctx, m.category, codings, m.display)
    obs["valueQuantity"] = _quantity(value, m.ucum)
    return obs


def map_vitals(record: dict[str, Any], ctx: RecordContext) -> list[dict[str, Any]]:
    """Each vital sign, the BP panel (two components), the vital-signs panel and the NEWS2 score."""
    obs = record["observations"]
    by_key = {m.key: m for m in VITAL_SIGNS}
    known = set(by_key) | {BP_SYSTOLIC.key, BP_DIASTOLIC.key} | VITALS_CONTEXT_KEYS
    unknown = sorted(k for k, v in obs.items() if k not in known and v is not None)
    if unknown:
        raise MappingError(f"record {record['record_id']}: no LOINC mapping for {', '.join(unknown)}")
    out: list[dict[str, Any]] = []
    for key, m in by_key.items():
        if obs.get(key) is not None:
            out.append(_measure_observation(m, obs[key], record, ctx))
    if obs.get(BP_SYSTOLIC.key) is not None and obs.get(BP_DIASTOLIC.key) is not None:
        bp = _observation(fhir_id(record["record_id"], BP_PANEL[0]), record, ctx, "vital-signs",
                          [{"system": LOINC, "code": BP_PANEL[0], "display": BP_PANEL[1]}], "Blood pressure")
        bp["component"] = [
            {"code": {"coding": [{"system": LOINC, "code": m.loinc, "display": m.display}]},
             "valueQuantity": _quantity(obs[m.key], m.ucum)}
            for m in (BP_SYSTOLIC, BP_DIASTOLIC)
        ]
        out.append(bp)
    vitals = [o for o in out if o["category"][0]["coding"][0]["code"] == "vital-signs"]
    if vitals:
        panel = _observation(fhir_id(record["record_id"], VITALS_PANEL[0]), record, ctx, "vital-signs",
                             [{"system": LOINC, "code": VITALS_PANEL[0], "display": VITALS_PANEL[1]}], "Vital signs")
        panel["hasMember"] = [{"reference": f"Observation/{o['id']}"} for o in vitals]
        out.append(panel)
    news2 = record.get("news2")
    if news2 is not None:
        score = _observation(fhir_id(record["record_id"], "news2"), record, ctx, "survey",
                             [{"system": SNOMED, "code": NEWS2_CODE[0], "display": NEWS2_CODE[1]}], "NEWS2 score")
        score["valueInteger"] = int(news2["total"])
        if news2.get("risk"):
            score["interpretation"] = [{"text": f"clinical risk {news2['risk']}"}]
        components: list[dict[str, Any]] = [
            {"code": {"text": f"{name} sub-score"}, "valueInteger": int(points)}
            for name, points in sorted(news2.get("per_parameter", {}).items())
        ]
        if obs.get("on_oxygen") is not None:
            components.append({"code": {"text": "supplemental oxygen"}, "valueBoolean": bool(obs["on_oxygen"])})
        if obs.get("consciousness_acvpu"):
            components.append({"code": {"text": "consciousness (ACVPU)"},
                               "valueString": str(obs["consciousness_acvpu"])})
        if components:
            score["component"] = components
        score["derivedFrom"] = [{"reference": f"Observation/{o['id']}"} for o in vitals]
        if news2.get("response"):
            score["note"] = [{"text": f"response: {news2['response']}"}]
        out.append(score)
    return out


def map_lab_result(record: dict[str, Any], ctx: RecordContext) -> list[dict[str, Any]]:
    """One laboratory Observation per released analyte (flag as interpretation), and the DiagnosticReport."""
    by_key = {m.key: m for m in LAB_TESTS}
    obs = record["observations"]
    values = {k: v for k, v in obs.items() if k not in LAB_CONTEXT_KEYS and not k.endswith("_flag")}
    unknown = sorted(k for k in values if k not in by_key)
    if unknown:
        raise MappingError(f"record {record['record_id']}: no LOINC mapping for {', '.join(unknown)}")
    results = []
    for key, value in values.items():
        if value is None:
            continue  # not released (the record says why in incomplete_reason)
        observation = _measure_observation(by_key[key], value, record, ctx)
        flag = obs.get(key.split("_", 1)[0] + "_flag")
        if flag:
            observation["interpretation"] = [{"coding": [{"system": INTERPRETATION, "code": flag}]}]
        results.append(observation)
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": fhir_id(record["record_id"], "report"),
        "status": "final" if obs.get("complete", True) else "partial",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB"}]}],
        "code": {"coding": [{"system": LOINC, "code": LAB_REPORT_CODE[0], "display": LAB_REPORT_CODE[1]}]},
        "subject": {"reference": f"Patient/{record['patient_ref']}"},
        "effectiveDateTime": ctx.effective,
        "issued": ctx.effective,
        "identifier": [{"system": "urn:medbot:record", "value": record["record_id"]}],
        "result": [{"reference": f"Observation/{o['id']}"} for o in results],
    }
    if obs.get("incomplete_reason"):
        report["conclusion"] = f"not released: {obs['incomplete_reason']}"
    return [*results, report]


def map_survey_report(record: dict[str, Any], ctx: RecordContext) -> list[dict[str, Any]]:
    """A QuestionnaireResponse: one item per answered question (``observations``: link id -> answer)."""
    items = []
    obs = record["observations"]
    for link_id, answer in sorted(obs.items()):
        if link_id in SURVEY_CONTEXT_KEYS or answer is None:
            continue
        if isinstance(answer, bool):
            value: dict[str, Any] = {"valueBoolean": answer}
        elif isinstance(answer, int):
            value = {"valueInteger": answer}
        elif isinstance(answer, float):
            value = {"valueDecimal": answer}
        else:
            value = {"valueString": str(answer)}
        items.append({"linkId": link_id, "answer": [value]})
    questionnaire = obs.get("questionnaire") or record["record_type"].replace("_", "-")
    return [{
        "resourceType": "QuestionnaireResponse",
        "id": fhir_id(record["record_id"], "qr"),
        "status": "completed" if obs.get("complete", True) else "in-progress",
        "questionnaire": f"urn:medbot:questionnaire:{questionnaire}",
        "subject": {"reference": f"Patient/{record['patient_ref']}"},
        "authored": ctx.effective,
        "identifier": {"system": "urn:medbot:record", "value": record["record_id"]},
        "item": items,
    }]


register_record_type("vitals", map_vitals)
register_record_type("lab_result", map_lab_result)
register_record_type("survey_report", map_survey_report)
register_record_type("nursing_inquiry", map_survey_report)  # the bedside questionnaire of missions/nursing_inquiry


def record_to_resources(record: dict[str, Any], robot_id: str, stamp_iso: str) -> list[dict[str, Any]]:
    mapper = RECORD_MAPPERS.get(record["record_type"])
    if mapper is None:
        raise MappingError(f"record {record['record_id']}: no FHIR mapping for record_type "
                           f"{record['record_type']!r}; known: {', '.join(sorted(RECORD_MAPPERS))}")
    effective = record.get("observations", {}).get("measured_at") or stamp_iso
    return mapper(record, RecordContext(robot_id, effective))


# -- validation ---------------------------------------------------------------------------------


def check_codes(resource: dict[str, Any]) -> list[str]:
    """Our own checks on top of the structure: LOINC <-> UCUM pairs, panels without value, status codes."""
    problems: list[str] = []
    if resource["resourceType"] != "Observation":
        return problems
    if resource.get("status") not in OBSERVATION_STATUSES:
        problems.append(f"status {resource.get('status')!r} is not an Observation status")

    def check(code_obj: dict[str, Any], holder: dict[str, Any], where: str) -> None:
        for coding in code_obj.get("coding", []):
            if coding.get("system") != LOINC:
                continue
            code = coding.get("code")
            if code not in LOINC_UNITS:
                problems.append(f"{where}: LOINC {code} is not in our code table")
                continue
            unit = LOINC_UNITS[code]
            qty = holder.get("valueQuantity")
            if unit is None:
                if any(k.startswith("value") for k in holder):
                    problems.append(f"{where}: panel LOINC {code} must not carry a value")
            elif qty is None:
                problems.append(f"{where}: LOINC {code} needs a valueQuantity in {unit}")
            elif qty.get("system") != UCUM or qty.get("code") != unit:
                problems.append(f"{where}: LOINC {code} needs UCUM {unit!r}, got {qty.get('system')} "
                                f"{qty.get('code')!r}")

    check(resource.get("code", {}), resource, "code")
    for i, component in enumerate(resource.get("component", [])):
        check(component.get("code", {}), component, f"component[{i}]")
    if resource["code"].get("coding", [{}])[0].get("code") == BP_PANEL[0]:
        codes = {c["code"]["coding"][0]["code"] for c in resource.get("component", []) if c["code"].get("coding")}
        if codes != {BP_SYSTOLIC.loinc, BP_DIASTOLIC.loinc}:
            problems.append("blood pressure panel needs exactly the systolic and diastolic components")
    return problems


def validate_resource(resource: dict[str, Any]) -> dict[str, Any]:
    """Validate with ``fhir.resources`` (R4B) and :func:`check_codes`; returns the resource as FHIR JSON."""
    rid = f"{resource.get('resourceType')}/{resource.get('id')}"
    try:
        model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except (ValueError, KeyError) as exc:
        raise FhirValidationError(rid, [str(exc)]) from None
    problems = check_codes(resource)
    if problems:
        raise FhirValidationError(rid, problems)
    validated: dict[str, Any] = model.model_dump(mode="json", exclude_none=True)
    return validated


def make_bundle(resources: list[dict[str, Any]], *, bundle_id: str, timestamp: str,
                base_url: str = "urn:medbot:fhir") -> dict[str, Any]:
    """A validated ``collection`` Bundle of already validated resources."""
    bundle = {
        "resourceType": "Bundle",
        "id": fhir_id(bundle_id),
        "type": "collection",
        "timestamp": timestamp,
        "entry": [{"fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources],
    }
    return validate_resource(bundle)
