"""End to end: a paced simulated run on a real Mosquitto, the dashboard, and headless chromium.

One run serves the module (starting a fleet costs seconds); the broker-restart test comes last
because it restarts the module's own broker under everyone.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from dashboard.auth import Account, hash_password, hash_token
from dashboard.server import RunningDashboard, start_in_thread
from sim.runner import SimOptions, SimulationRun
from sim.scenario import load_scenario
from sim.world import load_world
from sim.world_export import world_json
from telemetry import Channel, TelemetryPublisher, TelemetrySubscriber
from telemetry.envelope import iso_timestamp
from telemetry.topics import FLEET_ID
from tests.dashboard.conftest import PacedRun, RestartableMosquitto, publish_as_fleet

pytestmark = pytest.mark.integration

SITE = "general-hospital"
#: robots of the default scenario taking part (all of them when writing the README screenshot)
ROBOTS = ("nurse-a", "security-1", "logistics-1")
#: the fleet's demand sources and the simulated hospital's parts that give each robot kind its work
SOURCES_BY_KIND = {"nursing": ("ward_chart", "care_rounds"), "logistics": ("supply",), "security": ("patrol_plans",),
                   "lab": ("lab_pickups",), "imaging": ("radiology_worklist",), "epi_survey": ("epi_cases",)}
PARTS_BY_KIND = {"nursing": ("nursing",), "logistics": ("logistics",), "security": ("security",), "lab": ("lab",),
                 "imaging": ("imaging",), "epi_survey": ("epi",)}
SPEEDUP = 10.0
OPERATOR_TOKEN = "operator-token-for-tests"
VIEWER_PASSWORD = "viewer-password-for-tests"
SCREENSHOT = os.environ.get("MEDBOT_DASHBOARD_PNG")  # e.g. docs/dashboard.png


def _accounts() -> dict[str, Account]:
    # ids as in the scenario's command policy: op-demo may command, vw-demo may not
    return {"op-demo": Account("op-demo", frozenset({"operator", "clinical"}), token_sha256=hash_token(OPERATOR_TOKEN)),
            "vw-demo": Account("vw-demo", frozenset({"viewer"}), password_hash=hash_password(VIEWER_PASSWORD))}


@pytest.fixture(scope="module")
def fleet(restartable_mosquitto: RestartableMosquitto, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[PacedRun, RunningDashboard]]:
    scenario = load_scenario("hospital-day")
    if not SCREENSHOT:
        robots = [r for r in scenario.robots if r.id in ROBOTS]
        kinds = {r.kind for r in robots}
        sources = {name for kind in kinds for name in SOURCES_BY_KIND[kind]}
        parts = {name for kind in kinds for name in PARTS_BY_KIND[kind]}
        # the wards' work only for the wards whose nursing robot takes part (as each robot had before)
        wards = sorted({str(r.serves) for r in robots if r.kind == "nursing"})
        demand = {name: ({**settings, "wards": wards} if name in ("ward_chart", "care_rounds") else settings)
                  for name, settings in scenario.fleet["demand"].items() if name in sources}
        scenario = scenario.model_copy(update={
            "robots": robots, "fleet": {**scenario.fleet, "demand": demand},
            "hospital": {name: settings for name, settings in scenario.hospital.items() if name in parts}})
    world = world_json(load_world(scenario.world_path()))
    dashboard = start_in_thread(restartable_mosquitto.url, world, users=_accounts())
    report = tmp_path_factory.mktemp("sim-report")
    run = SimulationRun(scenario, SimOptions(seed=1, hours=2.0, broker=restartable_mosquitto.url, report_dir=report,
                                             progress=False))
    paced = PacedRun(run, SPEEDUP).start()
    try:
        yield paced, dashboard
    finally:
        paced.stop()
        dashboard.stop()
    assert paced.error is None, f"the simulated run failed: {paced.error!r}"


def _login_operator(browser: Any, url: str) -> Any:
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    page.goto(f"{url}/login?token={OPERATOR_TOKEN}")
    page.wait_for_selector("#app:not([hidden])")
    return page


@pytest.fixture(scope="module")
def operator_page(fleet: tuple[PacedRun, RunningDashboard], chromium: Any) -> Iterator[Any]:
    page = _login_operator(chromium, fleet[1].url)
    yield page
    page.close()


def _show_floor(page: Any, level: str) -> None:
    """The map shows one floor at a time: select `level` (a no-op on a one-floor map)."""
    if page.locator("#map").get_attribute("data-level") != level:
        page.locator(f'#floor-select button.floor[data-level="{level}"]').click()
        page.wait_for_selector(f'#map[data-level="{level}"]')


def _robot_xy(page: Any, robot_id: str) -> tuple[float, float]:
    floor = page.wait_for_selector(f'#robots tr[data-robot="{SITE}/{robot_id}"] td.floor[data-level]', timeout=20_000)
    _show_floor(page, floor.get_attribute("data-level"))
    marker = page.wait_for_selector(f'#map g.robot[data-robot="{SITE}/{robot_id}"]', timeout=20_000)
    return float(marker.get_attribute("data-x")), float(marker.get_attribute("data-y"))


def _moved(page: Any, robot_ids: tuple[str, ...], timeout_s: float) -> set[str]:
    before = {rid: _robot_xy(page, rid) for rid in robot_ids}
    deadline = time.monotonic() + timeout_s
    moved: set[str] = set()
    while time.monotonic() < deadline and not moved:
        page.wait_for_timeout(500)
        moved = {rid for rid in robot_ids if _robot_xy(page, rid) != before[rid]}
    return moved


def test_robots_appear_on_the_map_and_move(operator_page: Any) -> None:
    page = operator_page
    for robot_id in ROBOTS:
        _robot_xy(page, robot_id)
        row = page.locator(f'#robots tr[data-robot="{SITE}/{robot_id}"] td.connection')
        assert row.inner_text().startswith("ONLINE")
    assert page.locator("#map line.wall").count() > 50, "the map's walls are drawn from the world file"
    assert _moved(page, ROBOTS, timeout_s=20.0), "no robot moved on the map within 20 s (200 s simulated)"


def _jpeg() -> bytes:
    image = np.zeros((120, 160, 3), np.uint8)
    cv2.circle(image, (80, 60), 30, (0, 80, 255), -1)  # a "hot spot"
    ok, encoded = cv2.imencode(".jpg", image)
    assert ok
    return encoded.tobytes()


def test_incident_alert_appears_with_its_evidence_image(fleet: tuple[PacedRun, RunningDashboard],
                                                        restartable_mosquitto: RestartableMosquitto,
                                                        operator_page: Any) -> None:
    # a security robot of the contract's own making: alert + chunked evidence JPEG, as the bridge sends them
    jpeg = _jpeg()
    digest = hashlib.sha256(jpeg).hexdigest()
    half = len(jpeg) // 2
    chunks = [jpeg[:half], jpeg[half:]]
    with TelemetryPublisher(restartable_mosquitto.url, SITE, "security-9") as pub:
        stamp_s = fleet[0].run.clock.now_s()  # the fleet's (simulated) time, as a robot of this run would stamp
        for index, chunk in enumerate(chunks):
            pub.publish(Channel.MEDIA, {
                "media_ref": f"sha256:{digest}", "media_kind": "evidence_image", "content_type": "image/jpeg",
                "total_bytes": len(jpeg), "sha256": digest, "chunk_index": index, "chunk_count": len(chunks),
                "chunk_sha256": hashlib.sha256(chunk).hexdigest(),
                "data_b64": base64.b64encode(chunk).decode(), "related": {"alert_id": "hot-spot-test"}}, stamp_s)
        pub.publish(Channel.ALERTS, {
            "alert_id": "hot-spot-test", "severity": "high", "category": "hot_spot",
            "summary": "Hot spot 71 C at central-supply shelf 3", "evidence_ref": f"sha256:{digest}",
            "where": {"place": "central-supply", "x_m": 60.0, "y_m": 38.0, "level": 0}, "data": {}}, stamp_s)
    page = operator_page
    key = f"{SITE}/security-9/hot-spot-test"
    image = page.wait_for_selector(f'#alerts li.alert[data-key="{key}"] img.evidence', timeout=10_000)
    # the element appears before the browser has fetched and decoded its source: wait for that (bounded)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image, timeout=10_000)
    assert image.evaluate("img => img.naturalWidth") == 160, "the JPEG decoded in the browser"
    _show_floor(page, "0")
    assert page.locator(f'#map path.alert-pin[data-alert="{key}"]').count() == 1, "pinned where it happened"
    # acknowledge it: recorded with who and when
    page.locator(f'#alerts li.alert[data-key="{key}"] button.ack').click()
    page.wait_for_selector(f'#alerts li.alert.acked[data-key="{key}"]')
    assert "acknowledged by op-demo" in page.locator(f'#alerts li.alert[data-key="{key}"]').inner_text()
    assert fleet[1].state.alerts[key]["acked_by"] == "op-demo"


def test_pause_round_trips_to_the_robot_and_back_as_an_ack(fleet: tuple[PacedRun, RunningDashboard],
                                                            operator_page: Any) -> None:
    page = operator_page
    page.select_option("#cmd-robot", f"{SITE}/nurse-a")
    page.click('#command-form button[data-command="pause"]')
    answered = page.wait_for_selector('#command-log li.command:not([data-status="sent"])', timeout=15_000)
    assert answered.get_attribute("data-status") == "ack", answered.inner_text()
    assert "pause → general-hospital/nurse-a by op-demo" in answered.inner_text()
    # the robot's state says so too, and its audit log holds the operator's identity
    page.wait_for_function(
        f"""() => document.querySelector('#robots tr[data-robot="{SITE}/nurse-a"] td.mode')
                 .textContent.startsWith('paused')""", timeout=15_000)
    command_id = answered.get_attribute("data-command-id")
    audit = Path(fleet[0].run.options.report_dir) / "audit" / "nurse-a.jsonl"
    entries = [json.loads(line) for line in audit.read_text().splitlines()]
    assert any(e["command_id"] == command_id and e["user"] == "op-demo" and e["status"] == "ack" for e in entries)
    page.click('#command-form button[data-command="resume"]')
    page.wait_for_selector('#command-log li.command[data-status="ack"] >> text=resume', timeout=15_000)


def test_a_viewers_command_is_refused_by_the_server(fleet: tuple[PacedRun, RunningDashboard],
                                                    restartable_mosquitto: RestartableMosquitto,
                                                    chromium: Any) -> None:
    page = chromium.new_page()
    page.goto(fleet[1].url)
    page.fill('#login-form input[name="user"]', "vw-demo")
    page.fill('#login-form input[name="password"]', VIEWER_PASSWORD)
    page.click('#login-form button[type="submit"]')
    page.wait_for_selector("#app:not([hidden])")
    assert page.locator('#command-form button[data-command="pause"]').is_disabled()
    assert page.locator("#clinical-panel").is_hidden(), "clinical data is for the clinical role only"
    _robot_xy(page, "nurse-a")  # the viewer sees the fleet
    with TelemetrySubscriber(restartable_mosquitto.url, f"medbot/v1/{SITE}/+/commands") as commands:
        # the UI disables the buttons; the server must refuse a forged request all the same
        status = page.evaluate(f"""async () => {{
            const me = await (await fetch('/api/me')).json();
            const r = await fetch('/api/commands', {{method: 'POST', headers: {{'Content-Type': 'application/json',
                'X-CSRF-Token': me.csrf_token}}, body: JSON.stringify({{robot_key: '{SITE}/nurse-a',
                command: 'remote_estop', params: {{}}}})}});
            return r.status; }}""")
        assert status == 403
        page.wait_for_timeout(500)
        assert commands.messages == [], "nothing reached the broker"
    page.close()


def _task_body(task_id: str, state: str, stamp_s: float, **fields: Any) -> dict[str, Any]:
    return {"task_id": task_id, "kind": "supply_delivery", "state": state, "priority": 50,
            "robot_kinds": ["logistics"], "zone": None, "place": None, "robot_id": None, "mission_id": None,
            "attempts": 0, "reallocations": 0, "requested_by": "op-demo", "created": iso_timestamp(stamp_s),
            "earliest_start": None, "deadline": None, "started": None, "finished": None,
            "updated": iso_timestamp(stamp_s), "reason": None, "unassignable": None, "done_items": 0, **fields}


def test_the_task_queue_shows_the_fleets_tasks_and_an_operator_submits_and_cancels(
        fleet: tuple[PacedRun, RunningDashboard], restartable_mosquitto: RestartableMosquitto,
        operator_page: Any) -> None:
    # a fleet service of the contract's own making: what `medbot fleet run` publishes under robot id "fleet"
    # (the simulated run has its own fleet service publishing on the same topic: these task ids are ours;
    # it also answers the operator's requests, so what is submitted and cancelled below is its own)
    page = operator_page
    url = restartable_mosquitto.url
    stamp_s = fleet[0].run.clock.now_s()  # the fleet's clock is the simulated one
    publish_as_fleet(url, SITE, Channel.TASKS, _task_body("e2e-run", "running", stamp_s, robot_id="logistics-1",
                                                          started=iso_timestamp(stamp_s), attempts=1), stamp_s)
    publish_as_fleet(url, SITE, Channel.TASKS, _task_body("e2e-stuck", "waiting", stamp_s, kind="x_ray",
                                                          unassignable="no robot offers x_ray"), stamp_s)
    page.wait_for_selector(f'#tasks tr[data-task="{SITE}/e2e-stuck"].unassignable', timeout=10_000)
    row = page.locator(f'#tasks tr[data-task="{SITE}/e2e-run"]')
    assert row.get_attribute("data-state") == "running" and "logistics-1" in row.inner_text()
    page.wait_for_function(f"""() => document.querySelector('#robots tr[data-robot="{SITE}/logistics-1"] td.tasks')
                               .textContent.includes('e2e-run (running)')""", timeout=10_000)
    assert page.locator(f'#robots tr[data-robot="{SITE}/{FLEET_ID}"]').count() == 0, "'fleet' is not a robot"
    with TelemetrySubscriber(restartable_mosquitto.url, f"medbot/v1/{SITE}/{FLEET_ID}/tasks/request") as requests:
        page.fill("#task-kind", "supply_delivery")
        page.fill("#task-params", '{"ward": "ward-a"}')
        page.fill("#task-robot-kinds", "logistics")
        page.fill("#task-deadline-min", "30")
        task_id = page.input_value("#task-id")
        page.click("#task-submit")
        messages = requests.wait_for(lambda ms: len(ms) >= 1, timeout_s=10)
        # a fresh id for the next task, once the server answered (the broker can be quicker than the page)
        page.wait_for_function(f"() => document.querySelector('#task-id').value !== {task_id!r}", timeout=10_000)
        # a task no robot of the run can do: the run's fleet holds it, waiting, and says why
        page.fill("#task-kind", "x_ray")
        page.fill("#task-params", "{}")
        page.fill("#task-robot-kinds", "imaging")
        stuck_id = page.input_value("#task-id")
        page.click("#task-submit")
        stuck = f'#tasks tr[data-task="{SITE}/{stuck_id}"]'
        page.wait_for_selector(f"{stuck}.unassignable", timeout=30_000)
        page.once("dialog", lambda dialog: dialog.accept())
        page.click(f"{stuck} button.cancel-task")
        messages = requests.wait_for(lambda ms: len(ms) >= 3, timeout_s=10)
    submit, _stuck, cancel = (m.body or {} for m in messages)
    assert submit["action"] == "submit" and submit["issued_by"] == {"user": "op-demo", "role": "operator"}
    assert (submit["task"]["task_id"], submit["task"]["kind"], submit["task"]["params"]) == (
        task_id, "supply_delivery", {"ward": "ward-a"})
    assert submit["task"]["robot_kinds"] == ["logistics"] and submit["task"]["deadline"].endswith("Z")
    assert (cancel["action"], cancel["task_id"]) == ("cancel", stuck_id)
    # the fleet answers: the log line and the row follow
    page.wait_for_selector(f'#task-request-log li[data-task-id="{stuck_id}"][data-status="cancelled"]',
                           timeout=10_000)
    assert page.locator(stuck).count() == 0, "cancelled: hidden by default"
    page.check('#task-filter input[value="cancelled"]')
    assert page.locator(stuck).get_attribute("data-state") == "cancelled"


def test_broker_restart_and_browser_reload_are_survived(fleet: tuple[PacedRun, RunningDashboard],
                                                        restartable_mosquitto: RestartableMosquitto,
                                                        operator_page: Any) -> None:
    page = operator_page
    restartable_mosquitto.stop()
    page.wait_for_selector('#link[data-state="down"]', timeout=15_000)
    restartable_mosquitto.start()
    page.wait_for_selector('#link[data-state="up"]', timeout=20_000)
    assert _moved(page, ROBOTS, timeout_s=20.0), "robots move again after the broker came back"
    page.reload()
    page.wait_for_selector("#app:not([hidden])")
    assert _moved(page, ROBOTS, timeout_s=20.0), "a reloaded page is still logged in and live"
    for robot_id in ROBOTS:
        row = page.locator(f'#robots tr[data-robot="{SITE}/{robot_id}"] td.connection')
        assert row.inner_text().startswith("ONLINE")
    if SCREENSHOT:
        # everything above the clinical panel: that panel shows pseudonymous patient refs to clinical
        # users by design, and the README picture must show none
        top = page.locator("#clinical-panel").bounding_box()
        width = page.evaluate("document.documentElement.scrollWidth")
        clip = {"x": 0, "y": 0, "width": width, "height": top["y"]} if top else None
        page.screenshot(path=SCREENSHOT, full_page=True, clip=clip)
