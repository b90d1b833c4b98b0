"""The lab result record and the lab alerts, as plain functions (tested directly).

The record is a `clinical.record` in the shape of `telemetry/schemas/clinical.json`:
record_type ``lab_result``, the pseudonymous patient reference, no bed, observations as
name_with_unit → value (``k_mmol_per_l: 6.8``) with a flag per test (``k_flag: "HH"``), and no
NEWS2. A test the analyzer reported it could not do (the run's `not_done`: no sample, too little,
a clot...) is named with the analyzer's reason, not as "not reported". A critical value is phoned through at
once: its alert names the sample, the test, the value with units, the limit and the clinical
record — the patient reference itself travels only in that record, on the clinical channel
(alerts are read by every operator).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hal.analyzer import AnalyzerResult
from missions import events as ev
from missions.lab.orders import LabOrder
from missions.lab.reference import TEST_MENU, ValidatedResult, critical_limit_text, validate_result


def lab_alert(
    alert_id: str, severity: ev.Severity, category: str, where: dict[str, Any] | None, summary: str, **extra: Any
) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "severity": severity.value,
        "category": category,
        "summary": summary[:500],
        "where": where,
        "evidence_ref": None,
        **extra,
    }


def sample_outcome(
    record_id: str,
    order: LabOrder,
    analyzer: str,
    results: Sequence[AnalyzerResult],
    missing: Sequence[str],
    where: dict[str, Any] | None,
    measured_at: str,
    not_done: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Validate one sample's results; the record, its alerts, and whether the tube is kept.
    `missing`: its tests that never came; `not_done`: test → the analyzer's reason for the tests
    it reported it could not do."""
    not_done = not_done or {}
    by_test = {r.test_code: r for r in results if r.sample_id == order.sample_id}
    observations: dict[str, Any] = {
        "sample_id": order.sample_id,
        "specimen": order.specimen.value,
        "analyzer": analyzer,
        "priority": order.priority,
        "measured_at": measured_at,
    }
    problems: list[str] = []
    validated: list[ValidatedResult] = []
    for code in order.tests:
        if code in not_done:
            problems.append(f"{code} not done by the analyzer: {not_done[code].strip() or 'no reason given'}")
            continue
        result = by_test.get(code)
        if result is None or code in missing:
            problems.append(f"{code} not reported by the analyzer")
            continue
        checked = validate_result(result)
        validated.append(checked)
        key = checked.observation_key
        if not checked.reportable:
            problems.append(f"{code}: {checked.problem}")
            observations[key] = None
            continue
        observations[key] = checked.value
        observations[key.split("_", 1)[0] + "_flag"] = checked.flag
    observations["complete"] = not problems
    observations["incomplete_reason"] = "; ".join(problems) if problems else None
    record = {
        "record_id": record_id,
        "record_type": "lab_result",
        "patient_ref": order.patient_ref,
        "bed_ref": None,
        "observations": observations,
        "news2": None,
    }
    alerts = [
        _critical_alert(record_id, order, checked, where) for checked in validated if checked.critical
    ]
    if problems:
        alerts.append(
            lab_alert(
                f"{record_id}.unreportable", ev.Severity.MEDIUM, "lab.result", where,
                f"Sample {order.sample_id}: results not released ({'; '.join(problems)}) - tube kept for "
                "manual review",
                sample_id=order.sample_id, record_id=record_id,
            )
        )
    return {"record": record, "alerts": alerts, "keep_tube": bool(problems),
            "critical": [a["test_code"] for a in alerts if a["category"] == "lab.critical"]}


def _critical_alert(
    record_id: str, order: LabOrder, checked: ValidatedResult, where: dict[str, Any] | None
) -> dict[str, Any]:
    definition = TEST_MENU[checked.test_code]
    limit = critical_limit_text(definition, checked.flag)
    return lab_alert(
        f"{record_id}.critical.{checked.test_code}", ev.Severity.CRITICAL, "lab.critical", where,
        f"CRITICAL {checked.test_code} {checked.value:g} {checked.units} (critical {limit}) - sample "
        f"{order.sample_id}: inform the responsible clinician now (patient in clinical record {record_id})",
        # alerts reach every operator: the patient reference stays on the clinical channel, in the
        # record this alert names
        sample_id=order.sample_id, record_id=record_id,
        test_code=checked.test_code, value=checked.value, units=checked.units, flag=checked.flag,
    )
