"""The publisher's QoS 1 messages between hand-over to paho and their PUBACK, and the window over them.

paho numbers each message (``mid``) when it is handed over, on the sending thread, and reports the
PUBACK on its network thread — which on loopback can come before ``publish()`` has even returned the
mid. :class:`InFlight` keeps ``mid -> spool row`` (None: not spooled) under one lock and reconciles
either order; it also answers the publisher's questions about the set: is the window full, are spooled
messages from before a reconnect still unacknowledged, is everything acknowledged (close), and it
wakes a replay waiting for room.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class InFlight:
    """Unacknowledged QoS 1 messages of one publisher. Thread-safe.

    ``window``: how many may be unacknowledged before spooled messages wait (the replay tops the
    window up again once half of it was acknowledged).
    """

    def __init__(self, window: int) -> None:
        if not 1 <= window <= 65_535:  # paho numbers in-flight messages 1..65535
            raise ValueError(f"max_inflight must be 1..65535, got {window}")
        self.window = window
        self.resume_at = window // 2
        self._lock = threading.Lock()  # never held while calling paho (paho calls on_publish locked)
        self._emptied = threading.Condition(self._lock)
        self._rows: dict[int, int | None] = {}
        # mid -> hand-over count when its PUBACK came before it was registered. paho reports a QoS 0
        # write the same way (never registered), and reuses mids after 65,535: an entry counts only for
        # the message handed over at or after that count, never for a later message with the same mid
        self._early: dict[int, int] = {}
        self._handovers = 0
        self._room = threading.Event()  # set by a PUBACK that brings the set down to resume_at
        self._waiting_for_room = False

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def full(self) -> bool:
        return len(self._rows) >= self.window

    def next_handover(self) -> int:
        """Count a hand-over about to happen (call it before ``publish()``, under the send lock)."""
        self._handovers += 1
        return self._handovers

    def register(self, mid: int, row: int | None, handover: int) -> bool:
        """Record a handed-over QoS 1 message; False if its PUBACK came first (it is done already)."""
        with self._lock:
            if self._early.pop(mid, -1) >= handover:
                return False
            self._rows[mid] = row
            return True

    def acknowledge(self, mid: int) -> tuple[bool, int | None]:
        """A PUBACK (paho's thread): ``(known, row)``; an unknown mid is kept for :meth:`register`."""
        with self._lock:
            if mid not in self._rows:
                self._early[mid] = self._handovers
                return False, None
            row = self._rows.pop(mid)
            if not self._rows:
                self._emptied.notify_all()
        if self._waiting_for_room and len(self._rows) <= self.resume_at:
            self._room.set()
        return True, row

    def spooled_unacknowledged(self) -> bool:
        """True while any spooled message handed over is not acknowledged."""
        with self._lock:
            return any(row is not None for row in self._rows.values())

    def forget_rows(self) -> None:
        """A rewind: the rows go again, so a late PUBACK of an earlier copy no longer acks a row."""
        with self._lock:
            for mid, row in list(self._rows.items()):
                if row is not None:
                    self._rows[mid] = None

    def wait_for_room(self, timeout_s: float) -> None:
        """Until PUBACKs brought the set down to :attr:`resume_at`, or ``timeout_s`` passed."""
        self._room.clear()
        self._waiting_for_room = True
        try:
            if len(self._rows) > self.resume_at:  # checked after arming: the ack may be in already
                self._room.wait(timeout_s)
        finally:
            self._waiting_for_room = False

    def wait_until_empty(self, timeout_s: float, give_up: Callable[[], bool]) -> bool:
        """Until every message is acknowledged, ``give_up()`` is true (:meth:`wake` re-asks), or the timeout."""
        with self._emptied:
            return self._emptied.wait_for(lambda: not self._rows or give_up(), max(0.0, timeout_s))

    def wake(self) -> None:
        """Make :meth:`wait_until_empty` ask ``give_up()`` again (the link went: no PUBACK will come)."""
        with self._emptied:
            self._emptied.notify_all()
