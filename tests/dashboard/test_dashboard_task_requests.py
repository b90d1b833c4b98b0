"""Submitting and cancelling fleet tasks through the web server (Starlette's TestClient): roles, the
contract check before sending, and what reaches the broker (a real Mosquitto) in which envelope."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from dashboard.auth import Account, hash_token
from dashboard.link import FleetLink
from dashboard.server import create_app
from dashboard.state import FleetState
from telemetry import TelemetrySubscriber
from telemetry.envelope import iso_timestamp
from telemetry.examples import example_body
from telemetry.topics import FLEET_ID, Channel, topic_for
from telemetry.validate import validate
from tests.dashboard.conftest import publish_as_fleet

BASE = "http://testserver"
SITE = "dash-task-test"  # a site of these tests' own: the session broker is shared
TASK = {"kind": "supply_delivery", "params": {"ward": "ward-a"}, "priority": 60, "robot_kinds": ["logistics"],
        "deadline": "2026-01-05T10:00:00.000Z", "zone": "ward-a", "place": "ward-a-store"}


def _accounts() -> dict[str, Account]:
    return {"op-1": Account("op-1", frozenset({"operator"}), token_sha256=hash_token("operator-token")),
            "vw-1": Account("vw-1", frozenset({"viewer"}), token_sha256=hash_token("viewer-token"))}


def _app(link_url: str = "mqtt://127.0.0.1:9") -> tuple[Any, FleetState, FleetLink]:
    state = FleetState()
    link = FleetLink(link_url, state)
    asgi, _ = create_app(state, link, _accounts(), {"bounds_m": [0, 0, 10, 10]})
    return asgi, state, link


def _login(client: TestClient, token: str) -> dict[str, str]:
    assert client.post("/login", json={"token": token}).status_code == 200
    return {"X-CSRF-Token": client.get("/api/me").json()["csrf_token"]}


def test_a_viewer_may_neither_submit_nor_cancel() -> None:
    asgi, state, _ = _app()
    client = TestClient(asgi, base_url=BASE)
    csrf = _login(client, "viewer-token")
    assert client.post("/api/tasks", json={"site": SITE, "task": TASK}, headers=csrf).status_code == 403
    assert client.post("/api/tasks/cancel", json={"site": SITE, "task_id": "t-1"}, headers=csrf).status_code == 403
    assert state.board.requests == {}, "nothing was recorded as sent"


def test_task_requests_need_a_session_and_the_csrf_token() -> None:
    asgi, _, _ = _app()
    client = TestClient(asgi, base_url=BASE)
    assert client.post("/api/tasks", json={"site": SITE, "task": TASK}).status_code == 401
    _login(client, "operator-token")
    assert client.post("/api/tasks", json={"site": SITE, "task": TASK}).status_code == 403
    assert client.post("/api/tasks/cancel", json={"site": SITE, "task_id": "t-1"},
                       headers={"X-CSRF-Token": "forged"}).status_code == 403


def test_a_request_breaking_the_contract_is_refused_before_anything_is_sent() -> None:
    asgi, state, _ = _app()
    client = TestClient(asgi, base_url=BASE)
    csrf = _login(client, "operator-token")
    response = client.post("/api/tasks", json={"site": SITE, "task": {**TASK, "priority": 500}}, headers=csrf)
    assert response.status_code == 400 and "$.body.task.priority" in response.json()["error"]
    response = client.post("/api/tasks", json={"site": SITE, "task": {**TASK, "deadline": "tomorrow"}}, headers=csrf)
    assert response.status_code == 400 and "deadline" in response.json()["error"]
    response = client.post("/api/tasks", json={"site": SITE, "task": {**TASK, "params": "beds 1-4"}}, headers=csrf)
    assert response.status_code == 400
    assert [r["status"] for r in state.board.requests.values()] == ["error"] * 3
    # a malformed request never reaches the schema: it is the client's mistake, said as such
    assert client.post("/api/tasks", json={"site": SITE}, headers=csrf).status_code == 400
    assert client.post("/api/tasks", content=b"not json", headers=csrf).status_code == 400
    assert client.post("/api/tasks/cancel", json={"site": SITE}, headers=csrf).status_code == 400
    assert client.post("/api/tasks", json={"site": "Ward 3", "task": TASK}, headers=csrf).status_code == 400
    # no site named and none known: the dashboard cannot guess where the task should go
    response = client.post("/api/tasks", json={"task": TASK}, headers=csrf)
    assert response.status_code == 400 and "name the site" in response.json()["error"]
    # a valid request with the broker down is refused (503), not queued
    response = client.post("/api/tasks", json={"site": SITE, "task": TASK}, headers=csrf)
    assert response.status_code == 503 and "no connection" in response.json()["error"]


@pytest.fixture
def live(mosquitto: Any) -> Iterator[tuple[Any, FleetState, TelemetrySubscriber]]:
    asgi, state, link = _app(mosquitto.url)
    link.start()
    assert link.wait_connected(10)
    with TelemetrySubscriber(mosquitto.url, f"medbot/v1/{SITE}/+/tasks/request") as requests:
        yield asgi, state, requests
    link.stop()


def test_an_operators_submit_and_cancel_reach_the_fleet_topic_in_the_contracts_envelope(
        live: tuple[Any, FleetState, TelemetrySubscriber], mosquitto: Any) -> None:
    asgi, state, requests = live
    client = TestClient(asgi, base_url=BASE)
    csrf = _login(client, "operator-token")
    response = client.post("/api/tasks", json={"site": SITE, "task": {**TASK, "task_id": "deliver-77"}},
                           headers=csrf)
    assert response.status_code == 202, response.text
    assert response.json()["task_id"] == "deliver-77"
    generated = client.post("/api/tasks", json={"site": SITE, "task": TASK}, headers=csrf)
    assert generated.status_code == 202 and generated.json()["task_id"].startswith("dash-")
    assert client.post("/api/tasks/cancel", json={"site": SITE, "task_id": "deliver-77", "reason": "not needed"},
                       headers=csrf).status_code == 202
    messages = requests.wait_for(lambda ms: len(ms) >= 3, timeout_s=10)
    assert {m.topic for m in messages} == {topic_for(SITE, FLEET_ID, Channel.TASK_REQUESTS)}
    for m in messages:
        validate(Channel.TASK_REQUESTS, m.envelope)  # what the fleet will check on the way in
        assert m.envelope is not None and m.envelope["header"]["robot_id"] == FLEET_ID and m.qos == 1
    bodies = [m.body for m in messages]
    assert [b["action"] for b in bodies if b] == ["submit", "submit", "cancel"]
    assert all(b and b["issued_by"] == {"user": "op-1", "role": "operator"} for b in bodies)
    assert bodies[0] and bodies[0]["task"] == {**TASK, "task_id": "deliver-77"}
    assert bodies[2] and (bodies[2]["task_id"], bodies[2]["reason"]) == ("deliver-77", "not needed")
    assert [m.seq for m in messages] == [0, 1, 2], "one publisher identity, one sequence per topic"
    # the log shows each request, without its params, until the fleet answers on tasks
    log = list(state.board.requests.values())
    assert [r["status"] for r in log] == ["sent"] * 3 and all("params" not in r for r in log)
    answer = {**example_body(Channel.TASKS), "task_id": "deliver-77", "state": "waiting", "robot_id": None,
              "updated": iso_timestamp(1767600000.0)}
    publish_as_fleet(mosquitto.url, SITE, Channel.TASKS, answer, 1767600000.0)
    cancelled = {**answer, "state": "cancelled", "reason": "cancelled by op-1: not needed",
                 "updated": iso_timestamp(1767600001.0)}
    publish_as_fleet(mosquitto.url, SITE, Channel.TASKS, cancelled, 1767600001.0)
    snapshot: dict[str, Any] = {}
    for _ in range(200):
        snapshot = client.get("/api/snapshot").json()
        if [r["status"] for r in snapshot["task_requests"]] == ["waiting", "sent", "cancelled"]:
            break
        time.sleep(0.05)  # the link folds messages in on paho's thread
    assert [r["status"] for r in snapshot["task_requests"]] == ["waiting", "sent", "cancelled"]
    assert [t["state"] for t in snapshot["tasks"]] == ["cancelled"]
    assert "params" not in json.dumps(snapshot["tasks"])
