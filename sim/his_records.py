"""The simulated hospital's electronic record: an MLLP listener on loopback that takes the HIS link's
ORU^R01s and acknowledges each (AA), and the HIS link's results path wired to the run.

`SimRecordSystem` is the receiving side only: it reads MSH (his/hl7in.py's `read_header`, the same
hl7apy reading the service uses for any sender) to answer with the message's control id, keeps
how often each control id arrived, and counts OBX segments; the LOINC/UCUM pairs themselves are
checked by the tests with python-hl7 (tests/his/record_system.py), a second HL7 stack.

`SimResults` is the HIS link's `ResultIntake` (records → ORU in the outbox) and `ResultSender`
(outbox → record system, its own thread) for a run. The intake runs on the simulation thread as
each clinical record is delivered, so the outbox's order is the run's order; the sender drains it
in the background and `close` waits (bounded) until everything queued has been answered, so the
figures in summary.json do not depend on how fast the thread was.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any

from his.ack import build_ack
from his.hl7in import Hl7Error, decode, read_header
from his.mllp import MllpClient, MllpServer
from his.oru import OruSettings
from his.outbox import Backoff, ResultSender, counts
from his.results import ResultIntake
from his.service import HisService
from his.store import Store

log = logging.getLogger(__name__)

RECORD_APPLICATION = "SIM-EHR"


class SimRecordSystem:
    """The record system's MLLP listener (127.0.0.1, a free port): every ORU answered AA."""

    def __init__(self, *, timeout_s: float) -> None:
        self.received: Counter[str] = Counter()  # control id -> times received
        self.obx = 0
        self.not_oru = 0
        self._lock = threading.Lock()
        self._server = MllpServer(self._handle, "127.0.0.1", 0, idle_timeout_s=max(60.0, 6 * timeout_s),
                                  max_connections=2)
        self._timeout_s = timeout_s

    @property
    def port(self) -> int:
        return self._server.port

    def start(self) -> None:
        self._server.start(timeout_s=self._timeout_s)

    def stop(self) -> None:
        self._server.stop(timeout_s=self._timeout_s)

    def _handle(self, raw: bytes) -> bytes:
        text = decode(raw)
        try:
            header = read_header(text)
        except Hl7Error as exc:
            with self._lock:
                self.not_oru += 1
            return build_ack(None, "AR", raw=raw, now_s=time.time(), application=RECORD_APPLICATION, error=exc)
        with self._lock:
            if (header.message_code, header.trigger) != ("ORU", "R01"):
                self.not_oru += 1
            self.received[header.control_id] += 1
            self.obx += text.count("\rOBX|")
        # the record system's own clock in its ACK (MSH-7): not part of any figure
        return build_ack(header, "AA", raw=raw, now_s=time.time(), application=RECORD_APPLICATION)

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {"oru_received": sum(self.received.values()), "distinct_control_ids": len(self.received),
                    "received_twice": sum(1 for n in self.received.values() if n > 1), "obx": self.obx,
                    "not_oru": self.not_oru}


class SimResults:
    """Results out for one run: records → ORU (the sim thread) → the record system (a thread)."""

    def __init__(self, store: Store, service: HisService, site: str, settings: OruSettings, *, timeout_s: float,
                 clock_s: Any, target: tuple[str, int] | None) -> None:
        self._store = store
        self.alerts: list[dict[str, Any]] = []
        self.record_system: SimRecordSystem | None = None
        if target is None:
            self.record_system = SimRecordSystem(timeout_s=timeout_s)
            self.record_system.start()
            target = ("127.0.0.1", self.record_system.port)
        self.target = target
        client = MllpClient(*target, connect_timeout_s=timeout_s, reply_timeout_s=timeout_s)
        self._timeout_s = timeout_s
        self.sender = ResultSender(store, service.sealer, client, alert=self._alert,
                                   backoff=Backoff(0.05, 1.0, seed=int(service.pseudonyms.key_id, 16)),
                                   alert_after_failures=5, idle_poll_s=1.0)
        self.intake = ResultIntake(store, service.sealer, site, settings, alert=self._alert,
                                   on_queued=self.sender.notify, clock_s=clock_s)
        self.sender.start()

    def _alert(self, body: dict[str, Any], stamp_s: float) -> None:
        self.alerts.append(body)

    def on_clinical(self, robot_id: str, body: dict[str, Any], stamp_s: float) -> None:
        self.intake.on_clinical(robot_id, body, stamp_s)

    def drain(self) -> bool:
        """Wait until the outbox has nothing pending (bounded); False if it still has."""
        deadline = time.monotonic() + max(30.0, 3 * self._timeout_s)
        while time.monotonic() < deadline:
            with self._store.reading() as c:
                if counts(c).get("pending", 0) == 0:
                    return True
            self.sender.notify()
            time.sleep(0.02)
        return False

    def close(self) -> dict[str, Any]:
        drained = self.drain()
        self.sender.stop()
        with self._store.reading() as c:
            outbox = counts(c)
        if self.record_system is not None:
            self.record_system.stop()
        if not drained:
            log.error("sim his: %d results still pending for the record system at the end of the run",
                      outbox.get("pending", 0))
        figures: dict[str, Any] = {"intake": dict(sorted(self.intake.counts.items())),
                                   "outbox": dict(sorted(outbox.items())), "alerts": len(self.alerts)}
        if self.record_system is not None:
            figures["record_system"] = self.record_system.summary()
        return figures
