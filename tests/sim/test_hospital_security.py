"""The simulated hospital's security side (sim/hospital/security.py): the day's incidents seeded
into the security world, and visitors at the outpatient hall who ask the fleet for guidance — valid
`tasks/request` bodies, only during visitor hours, the same every run — and who turn up in the
security world for whichever robot comes."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from hal.clock import SimClock
from missions import events as ev
from missions.events import MissionEvent
from missions.visitor_guidance import VisitorGuidanceParams
from sim.environment import SimEnvironment
from sim.hospital import HospitalContext, HospitalError
from sim.hospital.security import DEFAULT_INCIDENTS, SecurityDeskHall, build
from sim.patients import PatientCensus
from sim.security_world import HazardKind, security_world_for
from sim.world import World, load_default_world
from telemetry.envelope import make_envelope
from telemetry.topics import FLEET_ID, Channel
from telemetry.validate import validate

MIDNIGHT_S = 1767571200.0  # 2026-01-05 00:00 UTC, the simulator's day
START_S = MIDNIGHT_S + 7 * 3600.0


@functools.lru_cache(maxsize=1)
def hospital() -> World:
    return load_default_world()


def context(requests: list[dict[str, Any]], *, seed: int = 1, start_s: float = START_S) -> HospitalContext:
    world = hospital()
    clock = SimClock(start_s)
    env = SimEnvironment(world, PatientCensus(seed, world.beds(), start_s), clock, seed)
    return HospitalContext(world=world, census=env.census, env=env, clock=clock, seed=seed, start_s=start_s,
                           end_s=start_s + 86400.0, robots=[], request_task=requests.append,
                           fire_panel=lambda active, reason: None)


def a_day(requests: list[dict[str, Any]], **settings: Any) -> tuple[SecurityDeskHall, HospitalContext]:
    ctx = context(requests, **settings.pop("_ctx", {}))
    part = build(ctx, settings)
    t = ctx.start_s
    while t < ctx.end_s:
        part.step(t)
        t += 10.0
    return part, ctx


def started(task_id: str, robot_id: str, kind: str = ev.MISSION_STARTED, reason: str | None = None) -> MissionEvent:
    return MissionEvent(kind, robot_id, task_id, "visitor_guidance", START_S + 3 * 3600.0, reason=reason)


# ---- incidents ------------------------------------------------------------------------------------------


def test_the_days_incidents_are_seeded_at_their_times() -> None:
    ctx = context([])
    build(ctx, {})
    hazards = {(h.kind, h.place): h for h in security_world_for(ctx.env).hazards()}
    assert len(hazards) == len(DEFAULT_INCIDENTS)
    fire = hazards[(HazardKind.FIRE, "kitchen")]
    assert (fire.from_s, fire.until_s) == (MIDNIGHT_S + 13 * 3600 + 600, MIDNIGHT_S + 13 * 3600 + 600 + 25 * 60)
    # 02:10 is before the 07:00 start: the night after
    assert hazards[(HazardKind.INTRUSION, "outpatient-waiting")].from_s == MIDNIGHT_S + 86400 + 2 * 3600 + 600
    assert hazards[(HazardKind.WATER_LEAK, "radiology-reception")].growth_per_h == 0.6


def test_incidents_from_the_settings_replace_the_defaults() -> None:
    ctx = context([])
    build(ctx, {"incidents": [{"kind": "smoke", "place": "pharmacy", "at": "09:00"}]})
    (hazard,) = security_world_for(ctx.env).hazards()
    assert (hazard.kind, hazard.place, hazard.from_s, hazard.until_s) == (
        HazardKind.SMOKE, "pharmacy", MIDNIGHT_S + 9 * 3600, None)


# ---- visitors ask ---------------------------------------------------------------------------------------


def test_visitors_ask_for_guidance_with_valid_task_requests() -> None:
    requests: list[dict[str, Any]] = []
    part, _ = a_day(requests)
    assert 10 <= len(requests) <= 30  # 1.5 an hour over ten visitor hours
    for seq, body in enumerate(requests):
        validate(Channel.TASK_REQUESTS, make_envelope(Channel.TASK_REQUESTS, FLEET_ID, seq, START_S, body))
        task = body["task"]
        assert body["action"] == "submit" and body["issued_by"] == {"user": "reception-desk", "role": "operator"}
        assert (task["kind"], task["priority"], task["robot_kinds"], task["robot_id"]) == (
            "visitor_guidance", 60, [], None)
        params = VisitorGuidanceParams.model_validate(task["params"])  # what the robot will accept
        assert params.meet_at == task["place"] == "outpatient-reception"
        assert params.destination in ("radiology-reception", "clinical-lab", "pharmacy", "outpatient-waiting")
    ids = [b["task"]["task_id"] for b in requests]
    assert ids[:2] == ["guide-20260105-0001", "guide-20260105-0002"] and len(set(ids)) == len(ids)
    assert part.summary()["visitor_requests"] == len(requests)


def test_requests_come_only_in_visitor_hours_with_a_deadline() -> None:
    requests: list[dict[str, Any]] = []
    a_day(requests, visitor_requests_per_hour=6.0, visitor_hours=[9.0, 11.0])
    times = [b["task"]["earliest_start"] for b in requests]
    assert times and all("T09:" in t or "T10:" in t for t in times)
    first = requests[0]["task"]
    start_min = int(first["earliest_start"][14:16])
    deadline_min = int(first["deadline"][14:16])
    assert (deadline_min - start_min) % 60 == 15


def test_the_same_seed_brings_the_same_visitors_and_another_seed_others() -> None:
    one: list[dict[str, Any]] = []
    again: list[dict[str, Any]] = []
    other: list[dict[str, Any]] = []
    a_day(one)
    a_day(again)
    a_day(other, _ctx={"seed": 2})
    assert one == again
    assert one != other


def test_no_rate_no_visitors() -> None:
    requests: list[dict[str, Any]] = []
    a_day(requests, visitor_requests_per_hour=0)
    assert requests == []


# ---- visitors meet a robot --------------------------------------------------------------------------------


def test_the_visitor_waits_for_whichever_robot_starts_the_task() -> None:
    requests: list[dict[str, Any]] = []
    part, ctx = a_day(requests)
    security = security_world_for(ctx.env)
    task_id = requests[0]["task"]["task_id"]
    assert security.visitors == {}  # nobody is shown until a robot comes
    part.on_event(started(task_id, "security-2"))
    visitor = security.visitors["security-2"]
    assert (visitor.state, visitor.meet_place) == ("waiting", "outpatient-reception")
    assert visitor.destination == requests[0]["task"]["params"]["destination"]
    # the robot broke down; the fleet's second attempt goes to another robot: the visitor waits for it
    part.on_event(started(f"{task_id}.2", "security-1"))
    assert security.visitors["security-1"].state == "waiting"
    assert part.summary()["visitors_met"] == 1


def test_a_visitor_who_wandered_off_is_not_there_for_a_second_attempt() -> None:
    requests: list[dict[str, Any]] = []
    part, ctx = a_day(requests)
    security = security_world_for(ctx.env)
    task_id = requests[0]["task"]["task_id"]
    part.on_event(started(task_id, "security-1"))
    security.visitors["security-1"].state = "gone"
    part.on_event(started(f"{task_id}.2", "security-2"))
    assert "security-2" not in security.visitors


def test_outcomes_are_counted_once_and_guidance_nobody_asked_the_desk_for_is_ignored() -> None:
    requests: list[dict[str, Any]] = []
    part, ctx = a_day(requests)
    first, second = (b["task"]["task_id"] for b in requests[:2])
    part.on_event(started(first, "security-1", ev.MISSION_SUCCEEDED))
    part.on_event(started(first, "security-1", ev.MISSION_SUCCEEDED))  # the outbox sent it again
    part.on_event(started(second, "security-1", ev.MISSION_FAILED,
                          reason="visitor lost: no one followed within 4 m for 60 s"))
    part.on_event(started("op-guide-1", "security-1"))
    part.on_event(started("op-guide-1", "security-1", ev.MISSION_SUCCEEDED))
    assert part.summary()["visitor_outcomes"] == {"arrived": 1, "visitor lost": 1}
    assert security_world_for(ctx.env).visitors == {}
    assert part.information() == {}


# ---- bad settings -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("settings", "field"), [
    ({"meet_at": "the-moon"}, "hospital.security.meet_at"),
    ({"destinations": ["pharmacy", "attic"]}, "hospital.security.destinations.1"),
    ({"destinations": []}, "hospital.security.destinations"),
    ({"incidents": [{"kind": "fire", "place": "attic", "at": "10:00"}]}, "hospital.security.incidents.0.place"),
    ({"incidents": [{"kind": "meteor", "place": "kitchen", "at": "10:00"}]}, "hospital.security.incidents.0.kind"),
    ({"incidents": [{"kind": "fire", "place": "kitchen", "at": "10.00"}]}, "hospital.security.incidents.0.at"),
    ({"lost_visitor_fraction": 1.5}, "hospital.security.lost_visitor_fraction"),
    ({"visitor_priority": 101}, "hospital.security.visitor_priority"),
    ({"day_from": "07:00"}, "hospital.security.day_from"),  # the patrol plans are the fleet's now
])
def test_bad_settings_name_the_field(settings: dict[str, Any], field: str) -> None:
    with pytest.raises(HospitalError, match=f"^{field.replace('.', '[.]')}:"):
        build(context([]), settings)
