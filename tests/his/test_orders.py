"""Specimen orders → lab pick-up task requests; cancels withdraw what has not started; what the fleet
has not confirmed is sent again."""

from __future__ import annotations

from pathlib import Path

from hospital import POLICY, Ack, Clock, RecordingBus, adt, order

from fleet.requests import request_from_body
from his.pseudonym import Pseudonymizer
from his.service import HisService, HisSettings
from his.store import Store
from telemetry.envelope import make_envelope
from telemetry.topics import FLEET_ID, Channel
from telemetry.validate import validate

KEY = bytes(range(32))


def make(tmp_path: Path) -> tuple[HisService, RecordingBus, Clock]:
    bus, clock = RecordingBus(), Clock()
    service = HisService(Store(tmp_path / "his.db"), Pseudonymizer(KEY), POLICY, bus, clock_s=clock,
                         settings=HisSettings(resend_after_s=30.0))
    assert Ack.parse(service.handle(adt("A01", "MRN-1", "A-01", "ward-a").encode()).decode()).code == "AA"
    return service, bus, clock


def send(service: HisService, text: str) -> Ack:
    return Ack.parse(service.handle(text.encode()).decode())


def test_a_new_order_becomes_a_sample_pickup_the_fleet_accepts(tmp_path: Path) -> None:
    service, bus, clock = make(tmp_path)
    assert send(service, order("MRN-1", "ORD-1", specimen="SPEC-1")).code == "AA"
    [body] = bus.requests
    validate(Channel.TASK_REQUESTS, make_envelope(Channel.TASK_REQUESTS, FLEET_ID, 0, clock.now_s, body))
    request = request_from_body(body["task"], clock.now_s, requested_by="his")
    assert request.kind == "sample_pickup" and request.robot_kinds == ("lab",)
    assert request.params == {"station": "ward-a-nurse-station", "expected_samples": ["SPEC-1"],
                              "lab_place": "clinical-lab"}
    assert request.place == "ward-a-nurse-station" and request.priority == POLICY.priority
    assert request.deadline_s is not None and 59 * 60 < request.deadline_s - clock.now_s <= 60 * 60
    assert request.task_id.startswith("his-pickup-") and "ORD-1" not in repr(body) and "MRN" not in repr(body)


def test_stat_orders_are_urgent_and_orm_without_a_specimen_uses_the_order_number(tmp_path: Path) -> None:
    service, bus, _ = make(tmp_path)
    assert send(service, order("MRN-1", "ORD-2", specimen="SPEC-2", stat=True)).code == "AA"
    assert send(service, order("MRN-1", "ORD-3", kind="ORM")).code == "AA"
    stat, orm = (b["task"] for b in bus.requests)
    assert stat["priority"] == POLICY.stat_priority
    assert orm["params"]["expected_samples"] == ["ORD-3"]


def test_the_same_order_again_is_the_same_task(tmp_path: Path) -> None:
    service, bus, _ = make(tmp_path)
    send(service, order("MRN-1", "ORD-1", specimen="SPEC-1"))
    ack = send(service, order("MRN-1", "ORD-1", specimen="SPEC-1"))  # a new control id, the same order
    assert ack.code == "AA" and len(bus.requests) == 1


def test_a_cancel_before_the_start_withdraws_the_task(tmp_path: Path) -> None:
    service, bus, _ = make(tmp_path)
    send(service, order("MRN-1", "ORD-1", specimen="SPEC-1"))
    task_id = bus.requests[0]["task"]["task_id"]
    service.on_task(task_id, "waiting", None)
    assert send(service, order("MRN-1", "ORD-1", control="CA")).code == "AA"
    assert bus.requests[-1] == {"action": "cancel", "issued_by": {"user": "his", "role": "operator"},
                                "task_id": task_id, "reason": "order cancelled by the hospital (ORC-1 CA)"}
    service.on_task(task_id, "cancelled", "cancelled by his")
    assert send(service, order("MRN-1", "ORD-1", control="CA")).code == "AA"  # already withdrawn: no change
    assert len(bus.requests) == 2


def test_a_cancel_after_the_start_is_refused(tmp_path: Path) -> None:
    service, bus, _ = make(tmp_path)
    send(service, order("MRN-1", "ORD-1", specimen="SPEC-1", kind="OML"))
    service.on_task(bus.requests[0]["task"]["task_id"], "running", None)
    ack = send(service, order("MRN-1", "ORD-1", control="CA"))
    assert (ack.code, ack.error_code) == ("AE", "206") and "already running" in ack.text
    assert len(bus.requests) == 1


def test_refused_orders_request_nothing(tmp_path: Path) -> None:
    service, bus, _ = make(tmp_path)
    cases = [
        (order("MRN-1", "ORD-9", control="CA"), "204"),  # cancel of an order never placed
        (order("MRN-2", "ORD-8", specimen="S-8"), "101"),  # not in the census, no ward given
        (order("MRN-2", "ORD-8", specimen="S-8", ward="ward-x"), "103"),  # no station for that ward
        (order("MRN-1", "ORD-7", control="XO"), "103"),  # an order change: not handled
    ]
    for text, code in cases:
        ack = send(service, text)
        assert (ack.code, ack.error_code) == ("AE", code), ack
    assert bus.requests == []


def test_imaging_orders_are_left_to_the_worklist(tmp_path: Path) -> None:
    service, bus, _ = make(tmp_path)
    ack = send(service, order("MRN-1", "ORD-5", kind="ORM", section="RAD", test="36643-5^XR chest^LN"))
    assert ack.code == "AA" and "nothing to request" in ack.text and bus.requests == []


def test_what_the_fleet_has_not_confirmed_is_sent_again_also_after_a_restart(tmp_path: Path) -> None:
    service, bus, clock = make(tmp_path)
    send(service, order("MRN-1", "ORD-1", specimen="SPEC-1"))
    send(service, order("MRN-1", "ORD-2", specimen="SPEC-2"))
    first, second = (b["task"]["task_id"] for b in bus.requests)
    assert service.tick() == 0  # just sent
    clock.now_s += 31
    service.on_task(first, "waiting", None)  # the fleet has the first
    assert service.tick() == 1 and bus.requests[-1]["task"]["task_id"] == second
    service.store.close()
    again = HisService(Store(tmp_path / "his.db"), Pseudonymizer(KEY), POLICY, bus, clock_s=clock)
    clock.now_s += 31
    assert again.tick() == 1 and bus.requests[-1]["task"]["task_id"] == second
    again.on_task(second, "rejected", "no robot of kind lab")
    clock.now_s += 31
    assert again.tick() == 0 and again.counts["fleet_rejections"] == 1
