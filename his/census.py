"""The census from ADT: who lies in which bed, applied atomically.

Each event is checked against the census as it stands and then applied, inside the caller's
transaction; a check that fails raises `Hl7Error` (AE) before anything was written, and the
transaction is rolled back anyway. The rules (docs/his.md, "ADT"):

| event | needs | does |
|---|---|---|
| A01 admit, A04 register | not in another bed; the bed (PV1-3) free | into the bed (A04 with no bed: registered) |
| A02 transfer | a patient in the census; a bed in PV1-3, free | moves; the old bed is kept for A12 |
| A03 discharge | a patient in the census | leaves the bed; the bed is kept for A13 |
| A08 update | a patient in the census | moves if PV1-3 names another (free) bed |
| A11 cancel admit | an admitted or registered patient | removed, as if never admitted |
| A12 cancel transfer | a patient with a previous bed (PV1-6 or ours), free | back to it |
| A13 cancel discharge | a discharged patient; the bed (PV1-3 or theirs), free | back into it |

Reasons never name the patient: they name the event, the bed and what was wrong.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from his.hl7in import AdtMessage, Hl7Error, Location
from his.pseudonym import Pseudonymizer
from his.sealing import Sealer


@dataclass(frozen=True, slots=True)
class CensusChange:
    event: str
    patient_ref: str
    bed: str | None
    ward: str | None
    changed: bool  # False: the census already said so (an idempotent repeat)


@dataclass
class _Row:
    lookup: str
    key_id: str
    patient_ref: str
    status: str
    ward: str | None
    bed: str | None
    prior_ward: str | None
    prior_bed: str | None


def _find(c: sqlite3.Connection, pseudonyms: Pseudonymizer, identifier: str) -> _Row | None:
    """The patient's row, found under the current key or a previous one (then re-keyed)."""
    for n, (kid, lookup) in enumerate(pseudonyms.lookups(identifier)):
        row = c.execute("SELECT lookup, key_id, patient_ref, status, ward, bed, prior_ward, prior_bed FROM patients "
                        "WHERE lookup = ? AND key_id = ?", (lookup, kid)).fetchone()
        if row is None:
            continue
        found = _Row(*row)
        if n > 0:  # found under an old key: the lookup moves to the current key, the ref stays
            current = pseudonyms.lookup(identifier)
            c.execute("UPDATE patients SET lookup = ?, key_id = ? WHERE lookup = ?",
                      (current, pseudonyms.key_id, found.lookup))
            found.lookup, found.key_id = current, pseudonyms.key_id
        return found
    return None


def _occupant(c: sqlite3.Connection, bed: str) -> str | None:
    row = c.execute("SELECT lookup FROM patients WHERE bed = ?", (bed,)).fetchone()
    return None if row is None else str(row[0])


def _need_free(c: sqlite3.Connection, bed: str, event: str, lookup: str | None, field: str = "PV1^1^3") -> None:
    occupant = _occupant(c, bed)
    if occupant is not None and occupant != lookup:
        raise Hl7Error("AE", 205, f"{event}: bed {bed} is occupied by another patient in the census", field)


def _need_bed(location: Location, event: str) -> str:
    if location.bed is None:
        raise Hl7Error("AE", 101, f"{event}: PV1-3 has no bed (component 3)", "PV1^1^3")
    return location.bed


def _unknown(event: str) -> Hl7Error:
    return Hl7Error("AE", 204, f"{event}: the patient (PID-3) is not in the census", "PID^1^3")


def _set(c: sqlite3.Connection, row: _Row, now_s: float, **values: Any) -> None:
    cols = ", ".join(f"{k} = ?" for k in values)
    c.execute(f"UPDATE patients SET {cols}, updated_s = ? WHERE lookup = ?", (*values.values(), now_s, row.lookup))


def apply_adt(c: sqlite3.Connection, pseudonyms: Pseudonymizer, msg: AdtMessage, now_s: float) -> CensusChange:
    """Check and apply one ADT event inside transaction ``c``; Hl7Error if it cannot be applied."""
    event = msg.header.trigger
    row = _find(c, pseudonyms, msg.patient_id)
    loc = msg.location
    if event in ("A01", "A04"):
        return _admit(c, pseudonyms, msg, row, now_s)
    if row is None:
        raise _unknown(event)
    ref = row.patient_ref
    if event == "A02":
        bed = _need_bed(loc, event)
        if row.status == "discharged":
            raise Hl7Error("AE", 204, "A02: the patient was discharged; send A13 (cancel discharge) first", "PID^1^3")
        if bed == row.bed:
            return CensusChange(event, ref, bed, row.ward, changed=False)
        _need_free(c, bed, event, row.lookup)
        _set(c, row, now_s, status="admitted", ward=loc.ward, bed=bed, prior_ward=row.ward, prior_bed=row.bed)
        return CensusChange(event, ref, bed, loc.ward, changed=True)
    if event == "A03":
        if row.status == "discharged":
            return CensusChange(event, ref, None, None, changed=False)
        _set(c, row, now_s, status="discharged", ward=None, bed=None, prior_ward=row.ward, prior_bed=row.bed)
        return CensusChange(event, ref, None, None, changed=True)
    if event == "A08":
        if row.status == "discharged":
            raise Hl7Error("AE", 204, "A08: the patient was discharged", "PID^1^3")
        if loc.bed is None or loc.bed == row.bed:
            return CensusChange(event, ref, row.bed, row.ward, changed=False)
        _need_free(c, loc.bed, event, row.lookup)
        _set(c, row, now_s, ward=loc.ward, bed=loc.bed, prior_ward=row.ward, prior_bed=row.bed)
        return CensusChange(event, ref, loc.bed, loc.ward, changed=True)
    if event == "A11":
        if row.status == "discharged":
            raise Hl7Error("AE", 204, "A11: the patient was discharged, not admitted; send A13 to cancel a "
                           "discharge", "PID^1^3")
        c.execute("DELETE FROM patients WHERE lookup = ?", (row.lookup,))
        return CensusChange(event, ref, None, None, changed=True)
    if event == "A12":
        if row.status == "discharged":
            raise Hl7Error("AE", 204, "A12: the patient was discharged", "PID^1^3")
        back = msg.prior if msg.prior.bed is not None else Location(row.prior_ward, row.prior_bed)
        if back.bed is None:
            raise Hl7Error("AE", 101, "A12: no previous bed to go back to (PV1-6 empty, no transfer on record)",
                           "PV1^1^6")
        _need_free(c, back.bed, event, row.lookup, "PV1^1^6")
        _set(c, row, now_s, ward=back.ward, bed=back.bed, prior_ward=None, prior_bed=None)
        return CensusChange(event, ref, back.bed, back.ward, changed=True)
    if event == "A13":
        if row.status != "discharged":
            raise Hl7Error("AE", 204, "A13: the patient is not discharged", "PID^1^3")
        back = loc if loc.bed is not None else Location(row.prior_ward, row.prior_bed)
        if back.bed is None:
            raise Hl7Error("AE", 101, "A13: no bed to return to (PV1-3 empty, none on record)", "PV1^1^3")
        _need_free(c, back.bed, event, row.lookup)
        _set(c, row, now_s, status="admitted", ward=back.ward, bed=back.bed, prior_ward=None, prior_bed=None)
        return CensusChange(event, ref, back.bed, back.ward, changed=True)
    raise Hl7Error("AR", 201, f"ADT event {event} is not handled", "MSH^1^9")


def _admit(c: sqlite3.Connection, pseudonyms: Pseudonymizer, msg: AdtMessage, row: _Row | None,
           now_s: float) -> CensusChange:
    event, loc = msg.header.trigger, msg.location
    if event == "A01" and loc.bed is None:
        raise Hl7Error("AE", 101, "A01: PV1-3 has no bed (component 3)", "PV1^1^3")
    status = "admitted" if loc.bed is not None else "registered"
    if row is not None and row.status != "discharged":
        if row.bed == loc.bed:
            return CensusChange(event, row.patient_ref, row.bed, row.ward, changed=False)
        if row.bed is not None:
            raise Hl7Error("AE", 205, f"{event}: the patient is already in bed {row.bed}; send A02 for a transfer",
                           "PV1^1^3")
    if loc.bed is not None:
        _need_free(c, loc.bed, event, row.lookup if row is not None else None)
    if row is None:
        ref = pseudonyms.ref(msg.patient_id)
        c.execute("INSERT INTO patients (lookup, key_id, patient_ref, status, ward, bed, updated_s) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?)",
                  (pseudonyms.lookup(msg.patient_id), pseudonyms.key_id, ref, status, loc.ward, loc.bed, now_s))
        return CensusChange(event, ref, loc.bed, loc.ward, changed=True)
    _set(c, row, now_s, status=status, ward=loc.ward, bed=loc.bed, prior_ward=None, prior_bed=None)
    return CensusChange(event, row.patient_ref, loc.bed, loc.ward, changed=True)


def snapshot(c: sqlite3.Connection, revision: int) -> dict[str, Any]:
    """The census body (telemetry/schemas/census.json): every occupied bed, by bed id."""
    rows = c.execute("SELECT bed, ward, patient_ref FROM patients WHERE bed IS NOT NULL ORDER BY bed").fetchall()
    return {"revision": revision, "beds": [{"bed_id": b, "ward": w, "patient_ref": r} for b, w, r in rows]}


def patient_location(c: sqlite3.Connection, pseudonyms: Pseudonymizer, identifier: str) -> tuple[str, Location] | None:
    """(ref, current location) of a patient in the census (admitted, registered), else None."""
    row = _find(c, pseudonyms, identifier)
    if row is None or row.status == "discharged":
        return None
    return row.patient_ref, Location(row.ward, row.bed)


def keep_identifier(c: sqlite3.Connection, sealer: Sealer, patient_ref: str, identifier: str) -> None:
    """Keep the patient's identifier, sealed, for their ORUs' PID-3 (sealed again under a new key).
    A patient no longer in the census (A11) has no row, and nothing is kept."""
    row = c.execute("SELECT identifier_key FROM patients WHERE patient_ref = ?", (patient_ref,)).fetchone()
    if row is None or row[0] == sealer.key_id:
        return
    kid, blob = sealer.seal(identifier.encode("utf-8"), b"patient:" + patient_ref.encode())
    c.execute("UPDATE patients SET identifier_key = ?, identifier = ? WHERE patient_ref = ?", (kid, blob, patient_ref))


@dataclass(frozen=True, slots=True)
class Subject:
    """Who an ORU is about: the identifier for PID-3 and, while in the census, where they lie (PV1-3)."""

    identifier: str
    location: Location


def subject_for_ref(c: sqlite3.Connection, sealer: Sealer, patient_ref: str) -> Subject | None:
    """The patient behind a ``pt-`` ref (also after discharge: a set measured before it is still
    theirs), or None if the census never knew the ref or holds no identifier for it."""
    row = c.execute("SELECT identifier_key, identifier, status, ward, bed FROM patients WHERE patient_ref = ?",
                    (patient_ref,)).fetchone()
    if row is None or row[1] is None:
        return None
    identifier = sealer.open(str(row[0]), bytes(row[1]), b"patient:" + patient_ref.encode()).decode("utf-8")
    here = Location(row[3], row[4]) if row[2] != "discharged" else Location(None, None)
    return Subject(identifier, here)


def rows_by_key(c: sqlite3.Connection) -> dict[str, int]:
    """How many patients are on record under each key id (rotation: drop a key once it has none)."""
    return {str(k): int(n) for k, n in c.execute("SELECT key_id, COUNT(*) FROM patients GROUP BY key_id")}
