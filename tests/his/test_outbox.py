"""The outbox over loopback MLLP, with python-hl7 as the record system's listener: in order, once,
AA closes, AE is alerted and not resent, a listener that goes away is waited for with back-off and
everything arrives once, in order, when it returns; a restart goes on where the last one stopped."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from record_system import RecordSystem, obx_rows
from records import SITE, VITALS_PAIRS, Rig, vitals

from his import oru
from his.mllp import MllpClient, MllpServer
from his.outbox import Backoff, ResultSender, counts


@pytest.fixture
def record_system() -> Iterator[RecordSystem]:
    system = RecordSystem().start()
    yield system
    system.close()


def sender(rig: Rig, system: RecordSystem | int, *, reply_timeout_s: float = 2.0) -> ResultSender:
    port = system if isinstance(system, int) else system.port
    client = MllpClient("127.0.0.1", port, connect_timeout_s=1.0, reply_timeout_s=reply_timeout_s)
    return ResultSender(rig.store, rig.service.sealer, client, alert=rig._alert, clock_s=rig.clock,
                        backoff=Backoff(0.02, 0.2, seed=7), alert_after_failures=3)


def fill(rig: Rig, patients: int, sets_each: int = 1) -> list[str]:
    """Admit patients and queue their vitals; the control ids in queue order."""
    refs = [rig.admit(f"MRN-{n}", f"A-{n:02d}") for n in range(patients)]
    ids = []
    for round_no in range(sets_each):
        for n, ref in enumerate(refs):
            record_id = f"m-{round_no}.A-{n:02d}"
            assert rig.intake.on_clinical("nurse-1", vitals(ref, record_id, bed=f"A-{n:02d}"), 1.0) == "queued"
            ids.append(oru.control_id(SITE, "nurse-1", record_id))
    return ids


def drain(s: ResultSender, until: float = 20.0) -> None:
    deadline = time.monotonic() + until
    while True:
        delay = s.step()
        if delay is None:
            return
        assert time.monotonic() < deadline, "the outbox did not drain"
        time.sleep(delay)


def test_every_patients_oru_arrives_once_in_order_and_the_ack_closes_it(tmp_path: Path,
                                                                       record_system: RecordSystem) -> None:
    rig = Rig(tmp_path / "his.db")
    ids = fill(rig, 6)
    s = sender(rig, record_system)
    assert s.step() is None
    assert record_system.control_ids() == ids
    for n, msg in enumerate(record_system.received):
        assert str(msg["PID.F3.R1.C1"]) == f"MRN-{n}"
        assert {code: unit for code, (_v, unit, _d) in obx_rows(msg).items()} == VITALS_PAIRS
    with rig.store.reading() as c:
        assert counts(c) == {"accepted": 6}
        assert c.execute("SELECT COUNT(*) FROM outbox WHERE message IS NOT NULL").fetchone()[0] == 0
    assert s.step() is None and len(record_system.received) == 6  # nothing twice
    assert s.counts["accepted"] == 6 and rig.alerts == []


def test_an_ae_is_logged_without_the_identifier_alerted_and_not_resent(tmp_path: Path, record_system: RecordSystem,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig(tmp_path / "his.db")
    ids = fill(rig, 3)
    record_system.policy = lambda msg, n: "AE" if str(msg["PID.F3.R1.C1"]) == "MRN-1" else "AA"
    s = sender(rig, record_system)
    with caplog.at_level(logging.INFO):
        assert s.step() is None
    assert record_system.control_ids() == ids and record_system.answers == ["AA", "AE", "AA"]
    [alert] = rig.alerts
    assert alert["category"] == "his.result" and alert["data"]["control_id"] == ids[1]
    assert alert["data"]["ack_code"] == "AE 204" and "MRN" not in repr(alert)
    # the record system's reason ("no such patient MRN-1 ...") is logged with the identifier blanked
    assert "no such patient [patient id]" in caplog.text and "MRN-1" not in caplog.text
    with rig.store.reading() as c:
        rows = c.execute("SELECT control_id, state FROM outbox ORDER BY seq").fetchall()
    assert rows == [(ids[0], "accepted"), (ids[1], "refused"), (ids[2], "accepted")]
    assert s.step() is None and len(record_system.received) == 3  # never sent again


def test_the_listener_going_away_mid_stream_is_waited_for_and_everything_arrives_once_in_order(
        tmp_path: Path, record_system: RecordSystem) -> None:
    rig = Rig(tmp_path / "his.db")
    ids = fill(rig, 4, sets_each=3)
    # it takes four, then goes away while the fifth waits for its ACK
    record_system.policy = lambda msg, n: "drop" if n == 4 else "AA"
    s = sender(rig, record_system)
    delay = s.step()
    assert delay is not None and 0 < delay <= 0.2
    record_system.stop()
    delays = [delay] + [d for d in (s.step() for _ in range(4)) if d is not None]
    assert len(delays) == 5 and all(0 < d <= 0.2 for d in delays)
    assert delays[1] > delays[0] * 0.9 or delays[1] >= 0.04  # growing towards the cap
    [down] = rig.alerts  # one alert for the outage, after 3 failures in a row
    assert down["category"] == "his.record-system" and down["data"]["pending"] == 8
    record_system.policy = lambda msg, n: "AA"
    record_system.start()  # back, on the same port
    drain(s)
    got = record_system.control_ids()
    # the fifth was received but never acknowledged: it comes again, the same message, the same id
    assert got == ids[:5] + ids[4:]
    assert str(record_system.received[4]) == str(record_system.received[5])
    with rig.store.reading() as c:
        assert counts(c) == {"accepted": 12}
        attempts = [r[0] for r in c.execute("SELECT attempts FROM outbox ORDER BY seq")]
    assert attempts[4] == 6 and attempts[:4] == [1] * 4 and attempts[5:] == [1] * 7


def test_back_off_is_bounded_and_its_jitter_seeded() -> None:
    a, b = Backoff(0.5, 8.0, seed=3), Backoff(0.5, 8.0, seed=3)
    da = [a.next_delay() for _ in range(12)]
    assert da == [b.next_delay() for _ in range(12)]
    assert all(0.25 <= d < 0.5 for d in da[:1]) and all(4.0 <= d < 8.0 for d in da[5:])
    a.reset()
    assert a.next_delay() < 0.5
    with pytest.raises(ValueError):
        Backoff(2.0, 1.0)


def test_an_ack_for_another_control_id_is_a_link_fault_not_a_close(tmp_path: Path) -> None:
    rig = Rig(tmp_path / "his.db")
    fill(rig, 1)
    wrong = MllpServer(lambda block: b"MSH|^~\\&|EHR|G|MEDBOT||20260105||ACK^R01^ACK|A1|P|2.5.1\rMSA|AA|R-OTHER\r",
                       "127.0.0.1", 0)
    wrong.start()
    try:
        s = sender(rig, wrong.port)
        assert s.step() is not None
        with rig.store.reading() as c:
            assert counts(c) == {"pending": 1}
    finally:
        wrong.stop()


def test_a_restart_mid_queue_sends_the_rest_in_order_and_nothing_twice(tmp_path: Path,
                                                                       record_system: RecordSystem) -> None:
    rig = Rig(tmp_path / "his.db")
    ids = fill(rig, 5)
    record_system.policy = lambda msg, n: "hold" if n == 2 else "AA"
    s = sender(rig, record_system, reply_timeout_s=30.0)
    s.start()
    record_system.wait_for(3)  # the third waits for its ACK: the service stops now
    s.stop(timeout_s=5.0)
    rig.close()
    record_system.release()
    record_system.policy = lambda msg, n: "AA"
    again = Rig(tmp_path / "his.db")
    s2 = sender(again, record_system)
    drain(s2)
    got = record_system.control_ids()
    assert got == ids[:3] + ids[2:]  # the unacknowledged third again (same control id), then the rest
    with again.store.reading() as c:
        assert counts(c) == {"accepted": 5}


def test_the_sender_thread_wakes_on_a_new_entry(tmp_path: Path, record_system: RecordSystem) -> None:
    rig = Rig(tmp_path / "his.db")
    s = sender(rig, record_system)
    s.idle_poll_s = 30.0  # only notify() can wake it in time
    rig.intake.on_queued = s.notify
    s.start()
    try:
        ids = fill(rig, 2)
        record_system.wait_for(2, timeout_s=5.0)
        assert record_system.control_ids() == ids
    finally:
        stopper = threading.Thread(target=s.stop)
        stopper.start()
        stopper.join(5.0)
        assert not stopper.is_alive()
