"""The fleet service at message level: allocation, failures, progress, custody, reports, restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.config import FleetConfig
from fleet.site import site_from_json
from fleet.tasks import TaskState
from sim.scenario import WORLDS_DIR
from sim.world import load_world
from sim.world_export import world_json
from telemetry.topics import Channel
from tests.fleet.fleet_harness import ROUND_SCHEMA, Fleet, round_params

NURSING = {"nursing_round": ROUND_SCHEMA, "medication_round": {}}


def nurses(f: Fleet) -> None:
    f.robot("nurse-a", "nursing", NURSING, at="dock-a", serves="ward-a")
    f.robot("nurse-b", "nursing", NURSING, at="dock-b", serves="ward-b")


def test_a_task_goes_to_the_nearest_capable_robot_and_ends_done(tmp_path: Path) -> None:
    f = Fleet(tmp_path)
    nurses(f)
    f.submit("round-a", "nursing_round", round_params("A1", "A2"), robot_kinds=("nursing",), zone="ward-a",
             place="bed-a1")
    f.step()
    [dispatch] = f.outbox.commands(command="dispatch")
    assert dispatch["target"]["robot_id"] == "nurse-a"
    assert dispatch["params"]["task_id"] == "round-a" and dispatch["params"]["mission_id"] == "round-a"
    f.ack("nurse-a", dispatch)
    f.event("nurse-a", "mission.started", "round-a", "nursing_round", task_id="round-a")
    f.step()
    assert f.service.task("round-a").state is TaskState.RUNNING
    f.event("nurse-a", "mission.succeeded", "round-a", "nursing_round", task_id="round-a")
    f.step()
    task = f.service.task("round-a")
    assert task.state is TaskState.DONE and task.robot_id == "nurse-a"
    states = [b["state"] for b in f.outbox.on(Channel.TASKS) if b["task_id"] == "round-a"]
    assert states[-1] == "done" and "dispatched" in states and "running" in states


def test_one_task_at_a_time_per_robot(tmp_path: Path) -> None:
    f = Fleet(tmp_path)
    f.robot("nurse-a", "nursing", NURSING, at="dock-a", serves="ward-a")
    for n in range(3):
        f.submit(f"r{n}", "nursing_round", round_params("A1"), zone="ward-a", place="bed-a1")
    f.step()
    f.step()
    assert len(f.outbox.commands(command="dispatch")) == 1


def test_higher_priority_goes_first(tmp_path: Path) -> None:
    f = Fleet(tmp_path)
    f.robot("nurse-a", "nursing", NURSING, at="dock-a", serves="ward-a")
    f.submit("routine", "nursing_round", round_params("A1"), priority=50, zone="ward-a", place="bed-a1")
    f.submit("recheck", "nursing_round", round_params("A2"), priority=70, zone="ward-a", place="bed-a2")
    f.step()
    assert f.outbox.commands(command="dispatch")[0]["params"]["task_id"] == "recheck"


def test_a_confined_robot_takes_only_its_ward_and_the_restricted_zone_only_its_robot(tmp_path: Path) -> None:
    f = Fleet(tmp_path)
    f.robot("nurse-iso", "nursing", NURSING, at="dock-iso", serves="isolation", confined=True)
    f.submit("round-a", "nursing_round", round_params("A1"), zone="ward-a", place="bed-a1")
    f.step()
    assert f.outbox.commands(command="dispatch") == []
    f.robot("nurse-b", "nursing", NURSING, at="dock-b", serves="ward-b")
    f.submit("round-iso", "nursing_round", round_params("ISO1"), zone="isolation", place="bed-iso1")
    f.step()
    sent = {c["params"]["task_id"]: c["target"]["robot_id"] for c in f.outbox.commands(command="dispatch")}
    assert sent == {"round-a": "nurse-b", "round-iso": "nurse-iso"}


def test_an_offline_robot_s_round_is_re_queued_with_only_the_beds_left(tmp_path: Path) -> None:
    f = Fleet(tmp_path)
    nurses(f)
    f.submit("round-a", "nursing_round", round_params("A1", "A2"), zone="ward-a", place="bed-a1")
    f.step()
    f.event("nurse-a", "mission.started", "round-a", "nursing_round", task_id="round-a")
    f.event("nurse-a", "clinical.record", "round-a", "nursing_round", task_id="round-a",
            data={"record_id": "round-a.A1", "bed_ref": "A1"})
    f.step()
    f.outbox.clear()
    f.service.on_message("nurse-a", "connection", {"state": "CONNECTION_BROKEN", "session": 1}, f.now_s)
    f.step()
    [dispatch] = f.outbox.commands(command="dispatch")
    assert dispatch["target"]["robot_id"] == "nurse-b"
    assert dispatch["params"]["mission_id"] == "round-a.2"
    assert [b["bed_id"] for b in dispatch["params"]["params"]["beds"]] == ["A2"]  # A1 is not measured again
    task = f.service.task("round-a")
    assert task.reallocations == 1 and task.attempts == 2


def test_a_stale_last_will_does_not_take_an_online_robot_down(tmp_path: Path) -> None:
    f = Fleet(tmp_path)
    f.robot("nurse-a", "nursing", NURSING, at="dock-a", serves="ward-a")
    f.service.on_message("nurse-a", "connection", {"state": "ONLINE", "session": 2}, f.now_s)
    f.service.on_message("nurse-a", "connection", {"state": "CONNECTION_BROKEN", "session": 1}, f.now_s)
    f.step()
    assert f.service.robots()[0].online


def test_an_e_stopped_robot_s_task_is_cancelled_there_and_given_to_another(tmp_path: Path) -> None:
    f = Fleet(tmp_path)
    nurses(f)
    f.submit("round-a", "nursing_round", round_params("A1"), zone="ward-a", place="bed-a1")
    f.step()
    f.event("nurse-a", "mission.started", "round-a", "nursing_round", task_id="round-a")
    f.step()
    f.outbox.clear()
    f.state("nurse-a", at="bed-a1", estop=True)
    f.step()
    assert [c["params"] for c in f.outbox.commands("nurse-a", "cancel")] == [{"mission_id": "round-a"}]
    assert f.outbox.commands(command="dispatch")[0]["target"]["robot_id"] == "nurse-b"
    # the old mission ending on nurse-a later changes nothing about the task
    f.event("nurse-a", "mission.cancelled", "round-a", "nursing_round", task_id="round-a")
    f.step()
    assert f.service.task("round-a").state is TaskState.DISPATCHED


def test_a_lost_robot_with_drugs_aboard_fails_the_round_instead_of_handing_out_twice(tmp_path: Path) -> None:
    f = Fleet(tmp_path)
    nurses(f)
    f.submit("meds-a", "medication_round", {"patients": []}, zone="ward-a", place="bed-a1")
    f.step()
    f.event("nurse-a", "mission.started", "meds-a", "medication_round", task_id="meds-a")
    f.event("nurse-a", "mission.step", "meds-a", "medication_round", task_id="meds-a", step="custody.load")
    f.step()
    f.outbox.clear()
    f.service.on_message("nurse-a", "connection", {"state": "CONNECTION_BROKEN", "session": 1}, f.now_s)
    f.step()
    task = f.service.task("meds-a")
    assert task.state is TaskState.FAILED and "load aboard" in (task.reason or "")
    assert f.outbox.commands(command="dispatch") == []
    assert any("load aboard" in a["summary"] for a in f.outbox.on(Channel.ALERTS))


def test_a_task_no_robot_offers_is_reported_once_per_reason(tmp_path: Path) -> None:
    f = Fleet(tmp_path)
    nurses(f)
    f.submit("x-ray", "imaging_exam", {}, robot_kinds=("imaging",))
    f.step()
    f.step()
    f.step()
    alerts = [a for a in f.outbox.on(Channel.ALERTS) if a["data"].get("task_id") == "x-ray"]
    assert len(alerts) == 1 and "no robot offers mission kind 'imaging_exam'" in alerts[0]["summary"]
    # the reason changes: an imaging robot exists but is offline
    f.robot("imaging-1", "imaging", {"imaging_exam": {}}, at="store")
    f.service.on_message("imaging-1", "connection", {"state": "CONNECTION_BROKEN", "session": 1}, f.now_s)
    for _ in range(3):
        f.step()
    alerts = [a for a in f.outbox.on(Channel.ALERTS) if a["data"].get("task_id") == "x-ray"]
    assert len(alerts) == 2 and "every capable robot is offline (imaging-1)" in alerts[1]["summary"]


def test_params_the_robot_s_schema_rejects_fail_the_task_with_the_path(tmp_path: Path) -> None:
    f = Fleet(tmp_path)
    nurses(f)
    f.submit("bad", "nursing_round", {"rooms": []}, zone="ward-a")
    f.step()
    task = f.service.task("bad")
    assert task.state is TaskState.FAILED and "'beds' is a required property" in (task.reason or "")
    assert f.outbox.commands(command="dispatch") == []


def test_a_viewer_s_request_is_rejected(tmp_path: Path) -> None:
    f = Fleet(tmp_path)
    f.service.on_message("fleet", "tasks/request", {
        "action": "submit", "issued_by": {"user": "vw-1", "role": "viewer"},
        "task": {"task_id": "t1", "kind": "nursing_round", "params": {}}}, f.now_s)
    f.step()
    assert f.service.task("t1") is None
    [rejected] = [b for b in f.outbox.on(Channel.TASKS) if b["state"] == "rejected"]
    assert "viewer" in rejected["reason"]


def test_a_restarted_service_resends_the_same_dispatch_and_runs_nothing_twice(tmp_path: Path) -> None:
    f = Fleet(tmp_path)
    nurses(f)
    f.submit("round-a", "nursing_round", round_params("A1"), zone="ward-a", place="bed-a1")
    f.step()
    [first] = f.outbox.commands(command="dispatch")
    f.restart()
    nurses(f)  # retained factsheets and connections arrive again
    f.step()
    [again] = f.outbox.commands(command="dispatch")
    assert again["command_id"] == first["command_id"] and again["params"] == first["params"]
    assert f.service.task("round-a").attempts == 1


def test_an_idle_robot_below_its_threshold_is_sent_to_charge_and_given_no_work(tmp_path: Path) -> None:
    f = Fleet(tmp_path, FleetConfig(work_threshold_soc=0.3))
    f.robot("nurse-a", "nursing", NURSING, at="bed-a1", serves="ward-a", soc=0.2, home_dock="dock-a")
    f.robot("nurse-b", "nursing", NURSING, at="bed-a2", serves="ward-b", soc=0.2, home_dock="dock-a")
    f.submit("round-a", "nursing_round", round_params("A1"), zone="ward-a", place="bed-a1")
    f.step()
    charges = {c["target"]["robot_id"]: c["params"] for c in f.outbox.commands(command="dispatch")}
    assert {p["kind"] for p in charges.values()} == {"return_to_dock"}
    # the home dock for the first; the charger is taken, so the other goes to the nearest free one
    assert charges["nurse-a"]["params"]["dock"] == "dock-a" and charges["nurse-b"]["params"]["dock"] == "dock-iso"
    assert f.service.task("round-a").state is TaskState.WAITING
    # charged: the charging mission ends, the robot takes the work
    f.event("nurse-a", "mission.succeeded", charges["nurse-a"]["mission_id"], "return_to_dock")
    f.state("nurse-a", at="dock-a", soc=0.85)
    f.step()
    assert [c["params"]["task_id"] for c in f.outbox.commands("nurse-a", "dispatch")[1:]] == ["round-a"]


def test_a_confirmed_fire_parks_every_robot_and_holds_dispatch_until_cleared(tmp_path: Path) -> None:
    f = Fleet(tmp_path)
    nurses(f)
    f.service.on_message("nurse-b", "alerts", {
        "alert_id": "a1", "severity": "critical", "category": "fire", "summary": "fire", "where": None,
        "evidence_ref": None, "data": {"confirmed": True}}, f.now_s)
    f.step()
    parks = f.outbox.commands(command="building_alarm")
    assert sorted(c["target"]["robot_id"] for c in parks) == ["nurse-a", "nurse-b"]
    assert len({c["params"]["park_at"] for c in parks}) == 2  # each its own spot
    f.submit("round-a", "nursing_round", round_params("A1"), zone="ward-a", place="bed-a1")
    f.step()
    assert f.outbox.commands(command="dispatch") == []
    f.service.fire_panel(False, "cleared", f.now_s)
    f.step()
    assert len(f.outbox.commands(command="dispatch")) == 1


def test_on_a_fire_alarm_each_robot_parks_at_its_own_dock_when_about_as_near(tmp_path: Path) -> None:
    f = Fleet(tmp_path)
    # both by the isolation ward: the isolation dock is the nearest spot for each of them
    f.robot("nurse-a", "nursing", NURSING, at="bed-iso1", home_dock="dock-a")
    f.robot("nurse-b", "nursing", NURSING, at="bed-iso1", home_dock="dock-b")
    f.step()
    f.service.fire_panel(True, "drill", f.now_s)
    f.step()
    spots = {c["target"]["robot_id"]: c["params"]["park_at"] for c in f.outbox.commands(command="building_alarm")}
    # a robot parked on another's dock would stand there after the all-clear, its owner waiting
    # outside at the end of its next mission
    assert spots == {"nurse-a": "dock-a", "nurse-b": "dock-b"}
    # one coming online during the alarm, at its own dock, is sent where none of the others was
    f.robot("nurse-c", "nursing", NURSING, at="dock-a", home_dock="dock-a")
    f.step()
    [late] = f.outbox.commands("nurse-c", "building_alarm")
    assert late["params"]["park_at"] == "dock-iso"


def test_a_robot_carried_to_another_floor_during_the_alarm_gets_a_spot_on_that_floor(tmp_path: Path) -> None:
    # a lift car recalled by the alarm with the robot inside stops at the next floor: no lift
    # takes it to the spot it was first sent to, so the fleet sends one on the floor it is on
    site = site_from_json(world_json(load_world(WORLDS_DIR / "default_hospital.yaml")), "default")
    f = Fleet(tmp_path, site=site)
    f.robot("nurse-a", "nursing", NURSING, at="lift-1-car-L1", home_dock="dock-ward-a")
    f.step()
    f.service.fire_panel(True, "drill", f.now_s)
    f.step()
    [first] = f.outbox.commands("nurse-a", "building_alarm")
    assert site.place(first["params"]["park_at"]).level == 1
    f.state("nurse-a", at="lift-1-car-L0")  # the car stopped at the ground floor
    f.step()
    [_, second] = f.outbox.commands("nurse-a", "building_alarm")
    assert site.place(second["params"]["park_at"]).level == 0
    f.state("nurse-a", at="lift-1-car-L0")  # on the spot's floor: nothing more to say
    f.step()
    assert len(f.outbox.commands("nurse-a", "building_alarm")) == 2


def test_a_robot_left_idle_away_from_every_dock_is_sent_home(tmp_path: Path) -> None:
    # its mission failed in a corridor (blocked for its bounded wait): left there, it stands in the
    # way for good, and people and robots pile up round it
    dock_kind = {**NURSING, "return_to_dock": {}}
    f = Fleet(tmp_path)
    f.robot("nurse-a", "nursing", dock_kind, at="bed-a1", home_dock="dock-a")
    f.robot("nurse-b", "nursing", dock_kind, at="dock-b")  # idle at its dock: stays
    f.step()
    f.step(30.0)
    assert f.outbox.commands(command="dispatch") == []  # a moment's idleness is no stray
    f.step(31.0)
    [home] = f.outbox.commands(command="dispatch")
    assert home["target"]["robot_id"] == "nurse-a" and home["params"]["kind"] == "return_to_dock"
    assert home["params"]["params"]["dock"] == "dock-a"
    assert f.service.kpis().get("charging_missions", 0) == 0  # going home, not charging
    f.step(120.0)
    assert len(f.outbox.commands(command="dispatch")) == 1  # sent once, not again while it goes
    f.event("nurse-a", "mission.succeeded", home["params"]["mission_id"], "return_to_dock")
    f.state("nurse-a", at="dock-a")
    f.step(120.0)
    assert len(f.outbox.commands(command="dispatch")) == 1  # home now


@pytest.mark.parametrize("bad", [{"task_id": "has space", "kind": "x", "params": {}},
                                 {"task_id": "ok", "kind": "Bad-Kind", "params": {}},
                                 {"task_id": "ok", "kind": "x", "params": {}, "priority": 101}])
def test_bad_requests_are_rejected_with_the_field(tmp_path: Path, bad: dict[str, object]) -> None:
    f = Fleet(tmp_path)
    f.service.on_message("fleet", "tasks/request",
                         {"action": "submit", "issued_by": {"user": "op-1", "role": "operator"}, "task": bad}, f.now_s)
    f.step()
    [rejected] = [b for b in f.outbox.on(Channel.TASKS) if b["state"] == "rejected"]
    field = "task_id" if bad["task_id"] != "ok" else ("kind" if "priority" not in bad else "priority")
    assert rejected["reason"].startswith(field)


def test_a_request_is_checked_against_the_configured_grants(tmp_path: Path) -> None:
    f = Fleet(tmp_path, FleetConfig(requesters={"op-1": {"role": "operator"}, "vw-1": {"role": "viewer"}}))
    task = {"task_id": "t1", "kind": "nursing_round", "params": {}}
    for user, role in (("op-9", "operator"), ("vw-1", "operator")):  # unknown; a viewer claiming more
        f.service.on_message("fleet", "tasks/request",
                             {"action": "submit", "issued_by": {"user": user, "role": role}, "task": task}, f.now_s)
    f.step()
    reasons = [b["reason"] for b in f.outbox.on(Channel.TASKS) if b["state"] == "rejected"]
    assert reasons == ["unauthorized: unknown user 'op-9'",
                       "unauthorized: user 'vw-1' holds role 'viewer', not 'operator'"]
    f.service.on_message("fleet", "tasks/request",
                         {"action": "submit", "issued_by": {"user": "op-1", "role": "operator"}, "task": task}, f.now_s)
    f.step()
    assert f.service.task("t1") is not None


def test_a_repeated_event_does_not_reopen_an_ended_task(tmp_path: Path) -> None:
    f = Fleet(tmp_path)
    nurses(f)
    f.submit("round-a", "nursing_round", round_params("A1"), zone="ward-a", place="bed-a1")
    f.step()
    for event in ("mission.started", "mission.succeeded"):
        f.event("nurse-a", event, "round-a", "nursing_round", task_id="round-a")
    f.step()
    finished = f.service.task("round-a").finished_s
    f.now_s += 30
    for event in ("mission.started", "mission.succeeded"):  # redelivered after a crash
        f.event("nurse-a", event, "round-a", "nursing_round", task_id="round-a")
    f.step()
    task = f.service.task("round-a")
    assert task.state is TaskState.DONE and task.finished_s == finished


def test_a_refused_cancel_of_a_finished_task_leaves_its_state_alone(tmp_path: Path) -> None:
    f = Fleet(tmp_path)
    nurses(f)
    f.submit("round-a", "nursing_round", round_params("A1"), zone="ward-a", place="bed-a1")
    f.step()
    f.event("nurse-a", "mission.succeeded", "round-a", "nursing_round", task_id="round-a")
    f.step()
    f.outbox.clear()
    f.service.on_message("fleet", "tasks/request", {"action": "cancel", "task_id": "round-a",
                                                    "issued_by": {"user": "op-1", "role": "operator"}}, f.now_s)
    f.step()
    assert [b for b in f.outbox.on(Channel.TASKS) if b["task_id"] == "round-a"] == []
    [alert] = [a for a in f.outbox.on(Channel.ALERTS) if a["data"].get("task_id") == "round-a"]
    assert "already done" in alert["summary"]


def test_a_task_not_started_by_its_deadline_is_told_to_the_ward_once(tmp_path: Path) -> None:
    f = Fleet(tmp_path)
    f.robot("nurse-a", "nursing", NURSING, at="dock-a", serves="ward-a")
    f.submit("busy", "nursing_round", round_params("A1"), priority=70, zone="ward-a", place="bed-a1")
    f.submit("round-a", "nursing_round", round_params("A2"), zone="ward-a", place="bed-a2",
             deadline_s=f.now_s + 60)
    f.step()
    f.event("nurse-a", "mission.started", "busy", "nursing_round", task_id="busy")
    for _ in range(5):
        f.step(30.0)
    overdue = [a for a in f.outbox.on(Channel.ALERTS) if a["data"].get("overdue")]
    assert len(overdue) == 1 and overdue[0]["data"]["task_id"] == "round-a"
    assert "not started by its deadline" in overdue[0]["summary"] and "nurse-a" in overdue[0]["summary"]
    assert f.service.task("round-a").state is TaskState.ASSIGNED  # still queued for the robot
    assert f.service.kpis()["overdue_reports"] == 1


def test_a_robot_is_not_sent_to_charge_on_a_dock_another_robot_stands_on(tmp_path: Path) -> None:
    f = Fleet(tmp_path, FleetConfig(work_threshold_soc=0.3))
    f.robot("nurse-a", "nursing", NURSING, at="bed-a1", serves="ward-a", soc=0.2, home_dock="dock-a")
    # charged and idle, but still on nurse-a's home dock: that charger is not free
    f.robot("nurse-b", "nursing", NURSING, at="dock-a", serves="ward-b", soc=0.9, home_dock="dock-iso")
    f.step()
    [charge] = f.outbox.commands("nurse-a", "dispatch")
    assert charge["params"]["kind"] == "return_to_dock" and charge["params"]["params"]["dock"] == "dock-iso"
