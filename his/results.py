"""Results in from the robots (the ``clinical`` channel), into the outbox as ORU^R01.

`ResultIntake.on_clinical` takes one clinical record as the MQTT link delivered it (its envelope
already checked against the contract) and, for a result (vitals, lab_result):

1. an observation already recorded (the broker delivers QoS 1 at least once; a robot's spool
   replays) is a duplicate: nothing happens;
2. the patient is found in the census by the record's ``pt-`` ref; a ref the census does not know
   is logged with the ref only, alerted without it (alerts reach every operator), recorded as
   unsendable, and not sent;
3. otherwise the ORU is built, sealed, and queued in the transaction that records the
   observation's key, and the sender is woken.

Other record types (medication administrations, interviews, imaging studies) are not results for
the chart and are passed over.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from his import outbox
from his.census import subject_for_ref
from his.oru import NotAResult, OruSettings, build_oru, control_id
from his.sealing import Sealer, SealError
from his.store import Store

log = logging.getLogger(__name__)


class ResultIntake:
    def __init__(self, store: Store, sealer: Sealer, site: str, settings: OruSettings, *, alert: outbox.AlertFn,
                 on_queued: Callable[[], None] | None = None, clock_s: Callable[[], float] = time.time) -> None:
        self.store = store
        self.sealer = sealer
        self.site = site
        self.settings = settings
        self.alert = alert
        self.on_queued = on_queued
        self.clock_s = clock_s
        self.counts: Counter[str] = Counter()

    def on_clinical(self, robot_id: str, record: dict[str, Any], stamp_s: float) -> str:
        """Queue one record's ORU; returns what happened: queued, duplicate, not_a_result,
        nothing_measured, unknown_patient."""
        kind, record_id, ref = str(record["record_type"]), str(record["record_id"]), str(record["patient_ref"])
        record_key = f"{robot_id}/{record_id}"
        if kind not in ("vitals", "lab_result"):
            return self._count("not_a_result")
        control = control_id(self.site, robot_id, record_id)
        with self.store.reading() as c:
            if outbox.recorded(c, record_key):
                return self._count("duplicate")
            try:
                subject = subject_for_ref(c, self.sealer, ref)
            except SealError as exc:
                log.error("his: the identifier of %s does not open (%s)", ref, exc)
                subject = None
        now_s = self.clock_s()
        if subject is None:
            with self.store.transaction() as c:
                fresh = outbox.enqueue(c, record_key=record_key, control_id=control, record_type=kind,
                                       robot_id=robot_id, now_s=now_s, outcome="unknown patient ref")
            if not fresh:
                return self._count("duplicate")
            log.warning("his: %s %s from %s is about %s, whom the census does not know: not sent", kind, record_id,
                        robot_id, ref)
            self.alert({"alert_id": f"his-oru-{control}-unknown-patient", "severity": "high",
                        "category": "his.result",
                        "summary": f"A {kind} result from {robot_id} (record {record_id}) is about a patient the HIS "
                                   "census does not know; it was not sent to the record system",
                        "where": None, "evidence_ref": None,
                        "data": {"control_id": control, "record_id": record_id, "robot_id": robot_id}}, now_s)
            return self._count("unknown_patient")
        try:
            oru = build_oru(record, robot_id, subject, control, self.settings, now_s, stamp_s)
        except NotAResult as exc:
            log.info("his: %s %s from %s: %s; nothing to send", kind, record_id, robot_id, exc)
            return self._count("nothing_measured")
        except Exception as exc:  # a bug or a value hl7apy will not take: recorded, alerted, not lost silently
            # (the type only: hl7apy's messages quote values, which could be the identifier)
            log.error("his: building the ORU of %s %s from %s failed (%s); not sent", kind, record_id, robot_id,
                      type(exc).__name__)
            with self.store.transaction() as c:
                outbox.enqueue(c, record_key=record_key, control_id=control, record_type=kind, robot_id=robot_id,
                               now_s=now_s, outcome=f"ORU not built: {type(exc).__name__}")
            self.alert({"alert_id": f"his-oru-{control}-unbuilt", "severity": "high", "category": "his.result",
                        "summary": f"A {kind} result from {robot_id} (record {record_id}) could not be made into "
                                   "an ORU; see the HIS link's log", "where": None, "evidence_ref": None,
                        "data": {"control_id": control, "record_id": record_id, "robot_id": robot_id}}, now_s)
            return self._count("unbuilt")
        if oru.unmapped:
            log.warning("his: %s %s from %s: no code for %s; sent without", kind, record_id, robot_id,
                        ", ".join(oru.unmapped))
        sealed = self.sealer.seal(oru.message, b"oru:" + control.encode())
        with self.store.transaction() as c:
            fresh = outbox.enqueue(c, record_key=record_key, control_id=control, record_type=kind, robot_id=robot_id,
                                   now_s=now_s, sealed=sealed)
        if not fresh:
            return self._count("duplicate")
        log.info("his: %s %s from %s queued as ORU %s (%d OBX)", kind, record_id, robot_id, control,
                 len(oru.observations))
        if self.on_queued is not None:
            self.on_queued()
        return self._count("queued")

    def _count(self, what: str) -> str:
        self.counts[what] += 1
        return what
