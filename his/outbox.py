"""The results outbox: ORUs queued in SQLite and sent, in order, to the record system's MLLP listener.

Guarantees (docs/his.md, "The outbox"):

* **Durable and once per observation.** An entry is written in the transaction that records the
  observation's key (``outbox.record_key`` is UNIQUE), committed before the MQTT message is
  acknowledged to the broker; the same record delivered again finds its key and queues nothing.
  Its MSH-10 is derived from the record's key (his/oru.py ``control_id``), so even the one message
  in flight when the service dies — sent, but its ACK not yet committed — goes again with the
  *same* control id, which is how the receiver recognises a repeat.
* **In order.** One sender sends the oldest pending entry, and the next only after that one is
  closed. A broken link holds the queue (head-of-line) rather than reorder it.
* **AA closes an entry. AE/AR close it too, refused**: logged with the reason (the patient's
  identifier blanked out of the record system's words) and alerted, never sent again by us.
* **A broken connection, a timeout or an unreadable reply** is retried with exponential back-off
  (``base_s`` doubling to ``cap_s``, times a jitter in [0.5, 1) from a seeded RNG), without end: the
  results are the chart's, they wait for it. After ``alert_after_failures`` in a row, one alert.
* **Every wait bounded**: the client's connect and reply timeouts, the back-off's cap.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from his.mllp import FramingError, MllpClient
from his.oru import BadAck, parse_ack
from his.sealing import Sealer, SealError
from his.store import Store

log = logging.getLogger(__name__)

#: alert(body of the alerts channel, stamp_s)
AlertFn = Callable[[dict[str, Any], float], None]
_MAX_REASON = 200


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    control_id: str
    record_type: str
    robot_id: str
    key_id: str
    sealed: bytes
    attempts: int


def enqueue(c: sqlite3.Connection, *, record_key: str, control_id: str, record_type: str, robot_id: str,
            now_s: float, sealed: tuple[str, bytes] | None = None, outcome: str | None = None) -> bool:
    """Record the observation and, with ``sealed`` (key id, blob), queue its ORU; without, the entry
    is 'unsendable' with ``outcome`` as the why. False: this observation was already recorded."""
    state = "pending" if sealed is not None else "unsendable"
    key_id, blob = sealed if sealed is not None else (None, None)
    cur = c.execute("INSERT OR IGNORE INTO outbox (record_key, control_id, record_type, robot_id, state, key_id, "
                    "message, outcome, created_s, updated_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (record_key, control_id, record_type, robot_id, state, key_id, blob, outcome, now_s, now_s))
    return cur.rowcount == 1


def recorded(c: sqlite3.Connection, record_key: str) -> bool:
    return c.execute("SELECT 1 FROM outbox WHERE record_key = ?", (record_key,)).fetchone() is not None


def head(c: sqlite3.Connection) -> Entry | None:
    row = c.execute("SELECT seq, control_id, record_type, robot_id, key_id, message, attempts FROM outbox "
                    "WHERE state = 'pending' ORDER BY seq LIMIT 1").fetchone()
    return None if row is None else Entry(int(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]),
                                          bytes(row[5]), int(row[6]))


def close(c: sqlite3.Connection, seq: int, state: str, outcome: str, now_s: float) -> None:
    """Close an entry; an accepted one drops its message (the chart has it; we keep only the key)."""
    keep = "message" if state != "accepted" else "NULL"
    c.execute(f"UPDATE outbox SET state = ?, outcome = ?, message = {keep}, attempts = attempts + 1, updated_s = ? "
              "WHERE seq = ?", (state, outcome, now_s, seq))


def counts(c: sqlite3.Connection) -> dict[str, int]:
    return {str(s): int(n) for s, n in c.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state")}


class Backoff:
    """Exponential back-off with jitter from its own seeded RNG (the same seed, the same delays)."""

    def __init__(self, base_s: float = 0.5, cap_s: float = 60.0, *, seed: int = 0) -> None:
        if not 0 < base_s <= cap_s < float("inf"):
            raise ValueError(f"back-off needs 0 < base_s <= cap_s < inf, got {base_s}, {cap_s}")
        self.base_s = base_s
        self.cap_s = cap_s
        self.failures = 0
        self._rng = random.Random(seed)

    def next_delay(self) -> float:
        delay = min(self.cap_s, self.base_s * 2.0 ** min(self.failures, 60))
        self.failures += 1
        return delay * (0.5 + 0.5 * self._rng.random())

    def reset(self) -> None:
        self.failures = 0


def identifier_of(message: bytes) -> str:
    """PID-3.1 of an ORU *we* built (his/oru.py puts it there): to blank it out of foreign text."""
    for segment in message.split(b"\r"):
        if segment.startswith(b"PID|"):
            fields = segment.split(b"|")
            return fields[3].split(b"^")[0].decode("utf-8", errors="replace") if len(fields) > 3 else ""
    return ""


def redact(text: str, identifier: str) -> str:
    """The record system's words, safe for our log: the identifier blanked, printable, bounded."""
    if identifier:
        text = text.replace(identifier, "[patient id]")
    return "".join(ch if ch.isprintable() else " " for ch in text)[:_MAX_REASON]


class ResultSender:
    """Drains the outbox to the record system. ``step()`` does the work (tests call it directly);
    ``start()`` runs it on a thread that sleeps on an event ``notify()`` sets when an entry is queued."""

    def __init__(self, store: Store, sealer: Sealer, client: MllpClient, *, alert: AlertFn,
                 backoff: Backoff | None = None, clock_s: Callable[[], float] = time.time,
                 alert_after_failures: int = 5, idle_poll_s: float = 5.0) -> None:
        self.store = store
        self.sealer = sealer
        self.client = client
        self.alert = alert
        self.backoff = backoff or Backoff()
        self.clock_s = clock_s
        self.alert_after_failures = alert_after_failures
        self.idle_poll_s = idle_poll_s
        self.counts: Counter[str] = Counter()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._outage_alerted = False

    @property
    def target(self) -> str:
        return f"{self.client.host}:{self.client.port}"

    # ---- one pass -------------------------------------------------------------------------------

    def step(self) -> float | None:
        """Send pending entries in order until none is left (None) or the link fails: then the delay
        before the next try. AE/AR close their entry and the pass goes on with the next."""
        while not self._stop.is_set():
            with self.store.reading() as c:
                entry = head(c)
            if entry is None:
                return None
            now_s = self.clock_s()
            try:
                message = self.sealer.open(entry.key_id, entry.sealed, b"oru:" + entry.control_id.encode())
            except SealError as exc:
                self._refuse(entry, "unsendable", f"not sent: {exc}", "", now_s)
                continue
            try:
                reply = parse_ack(self.client.send(message))
                if reply.control_id != entry.control_id:
                    raise BadAck(f"the ACK answers control id {reply.control_id[:20]!r}, not ours")
            except (OSError, FramingError, BadAck) as exc:  # (TimeoutError is an OSError)
                return self._link_failed(entry, exc)
            if self._outage_alerted:
                log.info("his: the record system at %s answers again", self.target)
            self._outage_alerted = False
            self.backoff.reset()
            if reply.accepted:
                with self.store.transaction() as c:
                    close(c, entry.seq, "accepted", reply.code, self.clock_s())
                self.counts["accepted"] += 1
                continue
            reason = redact(reply.reason, identifier_of(message))
            code = f"{reply.code} {reply.error_code}".strip()
            self._refuse(entry, "refused", f"{code}: {reason}", code, now_s)
        return None

    def _refuse(self, entry: Entry, state: str, outcome: str, code: str, now_s: float) -> None:
        with self.store.transaction() as c:
            close(c, entry.seq, state, outcome, now_s)
        self.counts[state] += 1
        log.error("his: ORU %s (%s from %s) %s and not sent again — %s", entry.control_id, entry.record_type,
                  entry.robot_id, "refused by the record system" if state == "refused" else "unsendable", outcome)
        self.alert({"alert_id": f"his-oru-{entry.control_id}-{state}", "severity": "high", "category": "his.result",
                    "summary": f"A {entry.record_type} result from {entry.robot_id} did not reach the record system "
                               f"({code or state}): see the HIS link's log for ORU {entry.control_id}",
                    "where": None, "evidence_ref": None,
                    "data": {"control_id": entry.control_id, "robot_id": entry.robot_id, "state": state,
                             "ack_code": code}}, now_s)

    def _link_failed(self, entry: Entry, exc: BaseException) -> float:
        with self.store.transaction() as c:
            c.execute("UPDATE outbox SET attempts = attempts + 1, updated_s = ? WHERE seq = ?",
                      (self.clock_s(), entry.seq))
        self.counts["link_failures"] += 1
        delay = self.backoff.next_delay()
        log.warning("his: ORU %s to %s not acknowledged (%s: %s); again in %.1f s", entry.control_id, self.target,
                    type(exc).__name__, str(exc)[:_MAX_REASON], delay)
        if self.backoff.failures >= self.alert_after_failures and not self._outage_alerted:
            self._outage_alerted = True
            with self.store.reading() as c:
                waiting = counts(c).get("pending", 0)
            self.alert({"alert_id": f"his-record-system-down-{int(self.clock_s())}", "severity": "medium",
                        "category": "his.record-system",
                        "summary": f"The record system at {self.target} has not acknowledged results "
                                   f"{self.backoff.failures} times in a row; {waiting} results wait in the outbox",
                        "where": None, "evidence_ref": None,
                        "data": {"target": self.target, "failures": self.backoff.failures, "pending": waiting}},
                       self.clock_s())
        return delay

    # ---- the thread -----------------------------------------------------------------------------

    def notify(self) -> None:
        """An entry was queued (any thread)."""
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("ResultSender.start() may be called once")
        self._thread = threading.Thread(target=self._run, name="his-results", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                delay = self.step()
            except Exception:  # a bug (a store error): logged; the queue is still there next pass
                log.exception("his: the results sender failed; trying again")
                delay = self.backoff.next_delay()
            if delay is None:
                self._wake.wait(self.idle_poll_s)
            else:
                self._stop.wait(delay)

    def stop(self, timeout_s: float | None = None) -> None:
        """Stop after the message in hand (bounded by the client's timeouts)."""
        self._stop.set()
        self._wake.set()
        self.client.interrupt()
        if self._thread is not None:
            self._thread.join(timeout_s if timeout_s is not None
                              else self.client.connect_timeout_s + self.client.reply_timeout_s + 1.0)
        self.client.close()
