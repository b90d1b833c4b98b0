"""Data center against a real Mosquitto: a simulated run stored exactly once (and FHIR that validates),
a crashed worker losing nothing it had not acknowledged, workers sharing one subscription."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from datacenter.export import export_patient_bundle
from datacenter.ingest import Ingestor
from datacenter.kpi import fleet_kpis, render_report
from datacenter.store import Store
from sim.runner import SimOptions, SimulationRun
from sim.scenario import load_scenario
from telemetry import Channel, TelemetryPublisher
from telemetry.examples import example_body
from telemetry.topics import FLEET_ID

pytestmark = pytest.mark.integration


def _wait_for(predicate: Any, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_simulated_run_is_stored_exactly_once_and_its_fhir_validates(mosquitto: Any, tmp_path: Path) -> None:
    """Half a simulated hour of the hospital-day fleet (kept short for CI), through Mosquitto."""
    store = Store(f"sqlite:///{tmp_path / 'dc.db'}")
    scenario = load_scenario("hospital-day")
    ingest = Ingestor(mosquitto.url, store, group=f"dc-{uuid.uuid4().hex[:6]}").start()
    try:
        run = SimulationRun(scenario, SimOptions(broker=mosquitto.url, progress=False, hours=0.5))
        summary = run.run()
        expected = summary["telemetry_messages"]
        assert run.fleet is not None
        # what the run's fleet service published on the broker under robot id "fleet" (its commands
        # go to the robots in-process, on the simulator's loopback)
        fleet_expected = {ch: n for ch, n in run.fleet.published.items() if ch in ("tasks", "alerts", "traffic")}
        robot_ids = sorted(summary["robots"]) if isinstance(summary.get("robots"), dict) else \
            [r.id for r in scenario.robots]

        def stored() -> dict[str, int]:
            counts = store.counts_by_channel(site=scenario.site, robot_ids=robot_ids)
            counts.pop(Channel.CONNECTION.value, None)  # ONLINE/OFFLINE belong to the publisher, not counted
            # answers to the fleet's commands go out on the command path, not the robots' telemetry sink
            # the run counts
            counts.pop(Channel.COMMANDS_ACK.value, None)
            return counts

        def stored_fleet() -> dict[str, int]:
            counts = store.counts_by_channel(site=scenario.site, robot_ids=[FLEET_ID])
            counts.pop(Channel.CONNECTION.value, None)
            return counts

        _wait_for(lambda: stored() == expected and stored_fleet() == fleet_expected, 30)
        ingest.wait_idle(timeout_s=5, quiet_s=0.3)
    finally:
        ingest.stop()
    assert stored() == expected, "every message of the run stored exactly once"
    assert stored_fleet() == fleet_expected and fleet_expected.get("tasks", 0) > 0, "the fleet's topics too"
    assert ingest.stats.rejected == 0
    assert expected["clinical"] > 0
    patients = store.patient_refs()
    assert patients
    resources = 0
    for patient in patients:
        result = export_patient_bundle(store, patient)
        # kinds whose FHIR mapping their engineers have not registered yet are listed, never half-mapped;
        # every measurement of a mapped record type has a code
        assert all("no FHIR mapping for record_type" in why for why in result.skipped), result.skipped
        resources += result.resources
        assert all(e["resource"]["subject"]["reference"] == f"Patient/{patient}"
                   for e in result.bundle.get("entry", []) if "subject" in e["resource"])
    vitals = [b for _r, _s, b in store.clinical_records() if b["record_type"] == "vitals"]
    assert vitals and resources >= len(vitals)
    kpis = fleet_kpis(store, site=scenario.site)
    assert set(kpis["robots"]) <= set(robot_ids) and kpis["robots"]
    assert kpis["alerts"]["total"] == expected.get("alerts", 0) + fleet_expected.get("alerts", 0)
    fleet = kpis["fleet"]
    assert fleet["requested"] > 0 and sum(k["done"] for k in fleet["tasks"].values()) > 0
    assert (fleet["tasks_lost"], fleet["tasks_duplicated"]) == (0, 0)
    assert "Missions" in render_report(kpis)
    store.close()


def _publish_events(url: str, robot_id: str, n: int) -> None:
    with TelemetryPublisher(url, "dc-test", robot_id) as pub:
        for i in range(n):
            pub.publish(Channel.EVENTS, example_body(Channel.EVENTS), 1767571200.0 + i)


def test_a_crashed_worker_loses_nothing_it_had_not_acknowledged_on_postgresql(
        mosquitto: Any, postgres_url: str) -> None:
    import psycopg

    name = f"dc_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    store = Store(postgres_url.rsplit("/", 1)[0] + f"/{name}")
    group, client_id = f"dc-{uuid.uuid4().hex[:6]}", f"dc-worker-{uuid.uuid4().hex[:6]}"
    first = Ingestor(mosquitto.url, store, group=group, client_id=client_id).start()
    first._hold_acks = True  # it receives, but dies before committing (and so before acknowledging)
    _publish_events(mosquitto.url, "crash-robot", 200)
    _wait_for(lambda: first.stats.received >= 201)  # + the retained/live connection messages
    first.crash()
    assert store.count() == 0 and first.stats.acked == 0
    second = Ingestor(mosquitto.url, store, group=group, client_id=client_id).start()  # the restarted worker
    try:
        _wait_for(lambda: store.counts_by_channel(robot_ids=["crash-robot"]).get("events") == 200)
        second.wait_idle(timeout_s=5, quiet_s=0.3)
    finally:
        second.stop()
    assert store.counts_by_channel(robot_ids=["crash-robot"])["events"] == 200
    assert [m.seq for m in store.messages("events", robot_id="crash-robot")] == list(range(200))
    store.close()


def test_workers_of_one_group_split_the_load_and_store_each_message_once(mosquitto: Any, tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'dc.db'}")
    group = f"dc-{uuid.uuid4().hex[:6]}"
    workers = [Ingestor(mosquitto.url, store, group=group).start() for _ in range(2)]
    try:
        _publish_events(mosquitto.url, "shared-robot", 400)
        _wait_for(lambda: store.counts_by_channel(robot_ids=["shared-robot"]).get("events") == 400)
        for w in workers:
            w.wait_idle(timeout_s=5, quiet_s=0.3)
    finally:
        for w in workers:
            w.stop()
    events_per_worker = [w.stats.stored for w in workers]
    assert all(n > 0 for n in events_per_worker), f"both workers took a share: {events_per_worker}"
    # Mosquitto 2.0 hands retained messages (earlier tests' connection states) to every member of the
    # group on subscribe: those, and only those, arrive twice, and the store keeps one copy
    assert sum(w.stats.stored for w in workers) == store.count()
    assert store.counts_by_channel(robot_ids=["shared-robot"])["events"] == 400
    store.close()
