"""The map shows one floor at a time: a floor selector from the map's `levels`, each robot drawn on
its own floor only, and each robot's floor in the robot list (real Mosquitto, headless chromium)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboard.auth import Account, hash_token
from dashboard.server import RunningDashboard, start_in_thread
from sim.world import load_world
from sim.world_export import world_json
from telemetry import Channel, TelemetryPublisher
from tests.dashboard.conftest import RestartableMosquitto

pytestmark = pytest.mark.integration

SITE = "general-hospital"
TOKEN = "floors-operator-token"
MULTI_FLOOR_PATH = Path(__file__).resolve().parents[2] / "sim" / "worlds" / "default_hospital.yaml"
#: robot -> (x, y, level): one on the wards' floor, one on the ground floor, one in the basement
POSES = {"nurse-a": (22.0, 40.0, 1), "lab-1": (90.0, 37.0, 0), "logistics-1": (84.0, 37.0, -1)}


@pytest.fixture(scope="module")
def dashboard(restartable_mosquitto: RestartableMosquitto) -> Iterator[RunningDashboard]:
    accounts = {"op-demo": Account("op-demo", frozenset({"operator"}), token_sha256=hash_token(TOKEN))}
    running = start_in_thread(restartable_mosquitto.url, world_json(load_world(MULTI_FLOOR_PATH)), users=accounts)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def page(dashboard: RunningDashboard, restartable_mosquitto: RestartableMosquitto, chromium: Any) -> Iterator[Any]:
    page = chromium.new_page(viewport={"width": 1500, "height": 1000})
    page.goto(f"{dashboard.url}/login?token={TOKEN}")
    page.wait_for_selector("#app:not([hidden])")
    # poses as the robots' viz channel sends them (after the page has connected: viz is not retained)
    page.wait_for_selector("#floor-select button.floor")
    for robot_id, (x, y, level) in POSES.items():
        with TelemetryPublisher(restartable_mosquitto.url, SITE, robot_id) as pub:
            pub.publish(Channel.VIZ, {"pose": {"x_m": x, "y_m": y, "yaw_rad": 0.0, "level": level},
                                      "velocity": {"linear_mps": 0.0, "angular_radps": 0.0}}, 1767600000.0)
    for robot_id in POSES:
        page.wait_for_selector(f'#robots tr[data-robot="{SITE}/{robot_id}"] td.floor[data-level]', timeout=10_000)
    yield page
    page.close()


def _marker(page: Any, robot_id: str) -> Any:
    return page.locator(f'#map g.robot[data-robot="{SITE}/{robot_id}"]')


def _select(page: Any, level: int) -> None:
    page.locator(f'#floor-select button.floor[data-level="{level}"]').click()
    page.wait_for_selector(f'#map[data-level="{level}"]')


def test_the_floor_selector_lists_the_maps_floors_top_first(page: Any) -> None:
    buttons = page.locator("#floor-select button.floor")
    assert [buttons.nth(i).get_attribute("data-level") for i in range(buttons.count())] == ["1", "0", "-1"]
    assert "first floor" in buttons.nth(0).inner_text()
    # the ground floor is shown first, its button pressed
    assert page.locator("#map").get_attribute("data-level") == "0"
    assert page.locator('#floor-select button[data-level="0"]').get_attribute("aria-pressed") == "true"


def test_a_robot_on_floor_1_appears_when_floor_1_is_selected_and_not_on_floor_0(page: Any) -> None:
    _select(page, 0)
    assert _marker(page, "nurse-a").count() == 0
    assert _marker(page, "lab-1").count() == 1
    _select(page, 1)
    assert _marker(page, "nurse-a").count() == 1
    assert _marker(page, "nurse-a").get_attribute("data-level") == "1"
    assert _marker(page, "lab-1").count() == 0 and _marker(page, "logistics-1").count() == 0
    # only the selected floor's walls are shown
    shown = page.locator('#map g.floor:not([display="none"])')
    assert shown.count() == 1 and shown.get_attribute("data-level") == "1"
    _select(page, 0)
    assert _marker(page, "nurse-a").count() == 0


def test_the_robot_list_names_each_robots_floor_and_a_click_shows_it(page: Any) -> None:
    _select(page, 0)
    floor = page.locator(f'#robots tr[data-robot="{SITE}/logistics-1"] td.floor')
    assert floor.inner_text() == "basement"
    assert page.locator(f'#robots tr[data-robot="{SITE}/nurse-a"] td.floor').inner_text() == "first floor"
    floor.click()
    page.wait_for_selector('#map[data-level="-1"]')
    assert _marker(page, "logistics-1").count() == 1
    # each floor's button counts the robots on it
    assert page.locator('#floor-select button[data-level="-1"] .n').inner_text().strip() == "(1)"
