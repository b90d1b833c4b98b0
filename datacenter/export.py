"""FHIR export from the store: one validated Bundle per patient and period."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from datacenter.fhir import MappingError, make_bundle, record_to_resources, validate_resource
from datacenter.store import Store, ms_to_iso


@dataclass
class ExportResult:
    bundle: dict[str, Any]
    resources: int
    records: int
    skipped: list[str] = field(default_factory=list)  # records that could not be mapped, with why


def export_patient_bundle(store: Store, patient_ref: str, *, since_ms: int | None = None,
                          until_ms: int | None = None, now_ms: int | None = None) -> ExportResult:
    """Every clinical record of ``patient_ref`` in ``[since_ms, until_ms)`` as validated FHIR resources.

    A record with no mapping is reported in ``skipped`` (and not exported) rather than failing the whole
    bundle; a resource that does not validate raises :class:`datacenter.fhir.FhirValidationError`.
    """
    resources: list[dict[str, Any]] = []
    skipped: list[str] = []
    records = store.clinical_records(patient_ref=patient_ref, since_ms=since_ms, until_ms=until_ms)
    for robot_id, stamp_ms, body in records:
        try:
            mapped = record_to_resources(body, robot_id, ms_to_iso(stamp_ms))
        except MappingError as exc:
            skipped.append(str(exc))
            continue
        resources += [validate_resource(r) for r in mapped]
    last_ms = max((stamp for _r, stamp, _b in records), default=0)
    stamp = ms_to_iso(now_ms if now_ms is not None else last_ms)
    period = f"{since_ms or 'start'}-{until_ms or 'end'}"
    bundle = make_bundle(resources, bundle_id=f"{patient_ref}.{period}", timestamp=stamp)
    return ExportResult(bundle, len(resources), len(records), skipped)
