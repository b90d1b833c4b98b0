"""The in-flight set reconciles a PUBACK and its registration in either order, never lets a stale
report acknowledge a later message with a reused mid, and wakes the waiters it promises to."""

from __future__ import annotations

import threading
import time

from telemetry.inflight import InFlight


def test_a_puback_before_registration_marks_that_message_done() -> None:
    inflight = InFlight(10)
    handover = inflight.next_handover()
    assert inflight.acknowledge(3) == (False, None)  # paho's thread was first
    assert inflight.register(3, 41, handover) is False
    assert len(inflight) == 0


def test_a_report_from_before_a_hand_over_never_acknowledges_it() -> None:
    inflight = InFlight(10)
    inflight.next_handover()
    inflight.acknowledge(7)  # a QoS 0 write reported with mid 7 (never registered)
    later = inflight.next_handover()  # mid 7 again, after the wrap
    assert inflight.register(7, 42, later) is True
    assert inflight.spooled_unacknowledged()
    assert inflight.acknowledge(7) == (True, 42)
    assert not inflight.spooled_unacknowledged()


def test_the_window_is_full_at_its_size_and_a_rewind_forgets_only_rows() -> None:
    inflight = InFlight(3)
    for mid, row in ((1, 10), (2, None), (3, 11)):
        inflight.register(mid, row, inflight.next_handover())
    assert inflight.full and len(inflight) == 3
    inflight.forget_rows()
    assert not inflight.spooled_unacknowledged() and len(inflight) == 3  # still awaited by close()
    assert inflight.acknowledge(1) == (True, None)  # a late PUBACK acknowledges no row any more
    assert not inflight.full


def test_a_waiting_replay_wakes_when_half_the_window_is_acknowledged() -> None:
    inflight = InFlight(4)
    for mid in range(1, 5):
        inflight.register(mid, mid, inflight.next_handover())

    def acks() -> None:
        for mid in (1, 2):
            time.sleep(0.05)
            inflight.acknowledge(mid)

    threading.Thread(target=acks).start()
    started = time.monotonic()
    inflight.wait_for_room(10.0)
    assert len(inflight) == inflight.resume_at == 2
    assert time.monotonic() - started < 5.0  # woken by the second PUBACK, not by the timeout


def test_close_waits_until_empty_or_until_told_the_link_is_gone() -> None:
    inflight = InFlight(4)
    inflight.register(1, None, inflight.next_handover())
    link_gone = threading.Event()
    threading.Timer(0.05, lambda: (link_gone.set(), inflight.wake())).start()
    started = time.monotonic()
    assert inflight.wait_until_empty(10.0, link_gone.is_set) is True
    assert time.monotonic() - started < 5.0
    assert inflight.wait_until_empty(0.01, lambda: False) is False  # still one unacknowledged: timed out
    threading.Timer(0.05, lambda: inflight.acknowledge(1)).start()
    assert inflight.wait_until_empty(10.0, lambda: False) is True
