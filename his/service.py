"""The HIS link's core: one inbound HL7 message in, its ACK out, the census and the fleet told.

`HisService.handle` is the MLLP server's handler. For each message, in this order:

1. parse and check it (his/hl7in.py) — a message we refuse gets AR / AE with the reason;
2. a repeat of a message already accepted (same sender, MSH-10 and bytes) gets the same ACK again
   and changes nothing; the same MSH-10 with other content is refused (AE 205);
3. apply it to the census or the order book in one transaction with the record of its ACK,
   committed before the ACK is returned (his/store.py) — or, on any error, rolled back whole;
4. after the commit, publish: the whole census (retained) if it changed, the task requests.

Publishing never blocks or raises here (the bus queues while the broker is away); what the fleet
has not confirmed is sent again by `tick` (his/orders.py), and the census is published whole at
start and after every change, so a lost one is superseded.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from his import orders
from his.ack import build_ack
from his.census import apply_adt, keep_identifier, rows_by_key, snapshot
from his.hl7in import DEFAULT_VERSIONS, AdtMessage, Header, Hl7Error, parse
from his.orders import OrderPolicy, apply_order, on_task_state, pending_requests
from his.pseudonym import Pseudonymizer
from his.sealing import Sealer
from his.store import Store

log = logging.getLogger(__name__)


class Bus(Protocol):
    """Where the service's outputs go: the MQTT contract (his/link.py) or a test's recorder."""

    def publish_census(self, body: dict[str, Any], stamp_s: float) -> None: ...
    def request(self, body: dict[str, Any], stamp_s: float) -> None: ...


@dataclass(frozen=True, slots=True)
class HisSettings:
    application: str = "MEDBOT"  # our MSH-3 in ACKs
    facility: str = ""  # our MSH-4
    versions: tuple[str, ...] = DEFAULT_VERSIONS
    processing_ids: tuple[str, ...] = ("P",)
    patient_id_type: str = "MR"  # the PID-3 repetition (CX.5) that identifies the patient
    #: how long an accepted message's ACK is kept for answering a repeat
    answered_keep_s: float = 7 * 24 * 3600.0
    #: a task request the fleet has not confirmed is sent again after this long
    resend_after_s: float = 30.0


class HisService:
    def __init__(self, store: Store, pseudonyms: Pseudonymizer, policy: OrderPolicy, bus: Bus, *,
                 settings: HisSettings | None = None, clock_s: Callable[[], float] = time.time) -> None:
        self.store = store
        self.pseudonyms = pseudonyms
        self.policy = policy
        self.bus = bus
        self.settings = settings or HisSettings()
        self.clock_s = clock_s
        self.sealer = Sealer(pseudonyms)
        self.counts: Counter[str] = Counter()
        self._digest_key = hashlib.sha256(b"medbot/his-message-digest\x00" + pseudonyms.key_id.encode()).digest()

    # ---- inbound --------------------------------------------------------------------------------

    def handle(self, raw: bytes) -> bytes:
        """The ACK for one inbound message (the MLLP handler). Never raises."""
        now_s = self.clock_s()
        header: Header | None = None
        try:
            msg = parse(raw, versions=self.settings.versions, processing_ids=self.settings.processing_ids,
                        id_type=self.settings.patient_id_type)
            header = msg.header
            return self._apply(msg, raw, now_s)
        except Hl7Error as exc:
            self.counts[f"ack_{exc.ack_code}"] += 1
            header = exc.header or header
            what = f"{header.message_code}^{header.trigger}" if header is not None else "unreadable message"
            log.warning("his: %s refused with %s (%d): %s", what, exc.ack_code, exc.code, exc.reason)
            return self._ack(header, exc.ack_code, raw, now_s, error=exc)
        except Exception as exc:  # a bug: nothing was committed; the sender is told to look at us
            self.counts["ack_AE"] += 1
            self.counts["internal_errors"] += 1
            log.exception("his: internal error handling a message (%s); nothing applied", type(exc).__name__)
            return self._ack(header, "AE", raw, now_s,
                             error=Hl7Error("AE", 207, "internal error in the receiving application; nothing was "
                                                       "applied", "MSH"))

    def _ack(self, header: Header | None, code: str, raw: bytes, now_s: float, *, error: Hl7Error | None = None,
             text: str = "") -> bytes:
        return build_ack(header, code, raw=raw, now_s=now_s, application=self.settings.application,
                         facility=self.settings.facility, error=error, text=text)

    def _apply(self, msg: Any, raw: bytes, now_s: float) -> bytes:
        header: Header = msg.header
        sender = f"{header.sending_application}|{header.sending_facility}"
        digest = hmac.new(self._digest_key, raw, hashlib.sha256).hexdigest()
        seen = self.store.answered(sender, header.control_id)
        if seen is not None:
            if hmac.compare_digest(seen[0], digest):
                self.counts["repeats"] += 1
                return seen[1]
            raise Hl7Error("AE", 205, "MSH-10 was already used by this sender for a different message",
                           "MSH^1^10")
        census: dict[str, Any] | None = None
        requests: list[tuple[str, dict[str, Any]]] = []
        with self.store.transaction() as c:
            if isinstance(msg, AdtMessage):
                change = apply_adt(c, self.pseudonyms, msg, now_s)
                keep_identifier(c, self.sealer, change.patient_ref, msg.patient_id)  # for ORU PID-3, sealed
                if change.changed:
                    census = snapshot(c, self.store.bump_revision(c))
                text = "" if change.changed else "no change: the census already says so"
                log.info("his: ADT %s %s: %s bed %s", header.trigger, "applied" if change.changed else "no change",
                         change.patient_ref, change.bed)
            else:
                outcomes = apply_order(c, self.pseudonyms, self.policy, msg, now_s)
                requests = [(o.task_id, o.body) for o in outcomes if o.body is not None]
                text = "" if requests else "no change: nothing to request of the fleet"
                for o in outcomes:
                    log.info("his: order %s: %s %s", header.trigger, o.action, o.task_id or "(imaging: not ours)")
            ack = self._ack(header, "AA", raw, now_s, text=text)
            self.store.remember(c, sender, header.control_id, digest, ack, now_s, self.settings.answered_keep_s)
        self.counts["ack_AA"] += 1
        if census is not None:
            self.bus.publish_census(census, now_s)
        self._send(requests, now_s)
        return ack

    # ---- outbound -------------------------------------------------------------------------------

    def _send(self, requests: list[tuple[str, dict[str, Any]]], now_s: float) -> None:
        for _task_id, body in requests:
            self.bus.request(body, now_s)
            self.counts[f"requests_{body['action']}"] += 1
        if requests:
            with self.store.transaction() as c:
                for task_id, _ in requests:
                    orders.mark_sent(c, task_id, now_s)

    def publish_census(self) -> dict[str, Any]:
        """Publish the whole census now (at start, and after the broker came back)."""
        now_s = self.clock_s()
        with self.store.reading() as c:
            body = snapshot(c, self.store.revision())
        self.bus.publish_census(body, now_s)
        return body

    def census(self) -> dict[str, Any]:
        with self.store.reading() as c:
            return snapshot(c, self.store.revision())

    def tick(self) -> int:
        """Send again what the fleet has not confirmed; returns how many requests went out."""
        now_s = self.clock_s()
        with self.store.reading() as c:
            pending = pending_requests(c, now_s, self.settings.resend_after_s)
        self._send(pending, now_s)
        return len(pending)

    def on_task(self, task_id: str, state: str, reason: str | None) -> None:
        """A task state the fleet published (any thread)."""
        if not task_id.startswith("his-"):
            return
        with self.store.transaction() as c:
            ours = on_task_state(c, task_id, state, self.clock_s())
        if ours is None:
            return
        if state == "rejected":
            self.counts["fleet_rejections"] += 1
            log.error("his: the fleet rejected %s: %s", task_id, (reason or "")[:200])
        elif state == "cancelled" and ours == "cancelled":
            log.info("his: %s withdrawn", task_id)

    def key_usage(self) -> dict[str, int]:
        with self.store.reading() as c:
            return rows_by_key(c)
