"""The fleet's HTTP API on a real FleetService (tiny site, recorded outbox): roles, idempotent
submit, listing and cancelling, the robots' view, the fire panel, and bad input answered with a
400 that names the field."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from dashboard.auth import hash_password
from fleet.http_api import ApiAuthenticator, UsersFileError, accounts_from_dict, create_app, hash_token, load_users
from fleet.tasks import TaskState
from telemetry.topics import Channel
from tests.fleet.fleet_harness import ROUND_SCHEMA, Fleet

OPERATOR, VIEWER, CLINICAL = "op-token-1", "vw-token-1", "cl-token-1"
USERS = {
    "op-0001": {"roles": ["operator", "clinical"], "token_sha256": hash_token(OPERATOR)},
    "vw-0001": {"roles": ["viewer"], "token_sha256": hash_token(VIEWER)},
    "cl-0001": {"roles": ["clinical"], "token_sha256": hash_token(CLINICAL)},
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def round_task(task_id: str = "round-1", **extra: Any) -> dict[str, Any]:
    return {"task_id": task_id, "kind": "nursing_round", "zone": "ward-a", "place": "bed-a1",
            "params": {"beds": [{"bed_id": "A1", "place": "bed-a1"}]}, **extra}


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path)
    yield fleet
    fleet.service.close()


@pytest.fixture
def client(fleet: Fleet) -> Iterator[TestClient]:
    app = create_app(fleet.service, ApiAuthenticator(accounts_from_dict(USERS)), lambda: fleet.now_s)
    with TestClient(app) as c:
        yield c


def error_of(response: Any) -> tuple[str, str]:
    body = response.json()["error"]
    return body["field"], body["problem"]


# ---- who may do what ---------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, bearer("wrong"), {"Authorization": "Token x"},
                                     {"Authorization": "Basic !!notbase64"}])
def test_no_or_wrong_credentials_are_401(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get("/api/tasks", headers=headers)
    assert response.status_code == 401
    assert error_of(response)[0] == "authorization"
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("token", [VIEWER, CLINICAL])
def test_readers_read_but_may_not_write(client: TestClient, fleet: Fleet, token: str) -> None:
    assert client.get("/api/tasks", headers=bearer(token)).status_code == 200
    assert client.get("/api/robots", headers=bearer(token)).status_code == 200
    assert client.get("/api/kpis", headers=bearer(token)).status_code == 200
    for path, body in [("/api/tasks", round_task()), ("/api/fire-panel", {"active": True}),
                       ("/api/tasks/round-1/cancel", {})]:
        response = client.post(path, json=body, headers=bearer(token))
        assert response.status_code == 403, path
        assert error_of(response)[0] == "role"
    assert fleet.service.tasks() == []


def test_health_needs_no_credentials(client: TestClient) -> None:
    assert client.get("/api/health").json() == {"status": "ok"}


def test_basic_auth_with_the_dashboards_password_hash(fleet: Fleet) -> None:
    accounts = accounts_from_dict({"op-0002": {"roles": ["operator"], "password_hash": hash_password("s3cret")}})
    app = create_app(fleet.service, ApiAuthenticator(accounts), lambda: fleet.now_s)
    good = base64.b64encode(b"op-0002:s3cret").decode()
    bad = base64.b64encode(b"op-0002:wrong").decode()
    with TestClient(app) as c:
        assert c.post("/api/tasks", json=round_task(), headers={"Authorization": f"Basic {good}"}).status_code == 201
        assert c.get("/api/tasks", headers={"Authorization": f"Basic {good}"}).status_code == 200  # cached
        assert c.get("/api/tasks", headers={"Authorization": f"Basic {bad}"}).status_code == 401
    assert fleet.service.task("round-1") is not None


# ---- tasks -------------------------------------------------------------------------------------


def test_operator_submits_and_the_same_id_again_is_the_same_task(client: TestClient, fleet: Fleet) -> None:
    first = client.post("/api/tasks", json=round_task(priority=70), headers=bearer(OPERATOR))
    assert first.status_code == 201
    assert first.json()["state"] == "waiting" and first.json()["requested_by"] == "op-0001"
    again = client.post("/api/tasks", json=round_task(priority=70), headers=bearer(OPERATOR))
    assert again.status_code == 200 and again.json()["task_id"] == "round-1"
    assert [t.task_id for t in fleet.service.tasks()] == ["round-1"]
    task = fleet.service.task("round-1")
    assert task is not None and task.request.priority == 70 and task.request.zone == "ward-a"
    # the fleet announced it on its tasks topic (params never leave the store)
    announced = fleet.outbox.on(Channel.TASKS)
    assert announced and announced[-1]["task_id"] == "round-1" and "params" not in announced[-1]


def test_iso_times_become_the_tasks_window(client: TestClient, fleet: Fleet) -> None:
    response = client.post("/api/tasks", json=round_task(earliest_start="2026-01-05T08:00:00Z",
                                                         deadline="2026-01-05T09:00:00.500Z"),
                           headers=bearer(OPERATOR))
    assert response.status_code == 201
    assert response.json()["earliest_start_s"] == 1767600000.0
    assert response.json()["deadline_s"] == 1767603600.5


@pytest.mark.parametrize(("task", "field"), [
    ({"kind": "nursing_round", "params": {}}, "task_id"),
    ({"task_id": "t-1", "params": {}}, "kind"),
    ({"task_id": "t-1", "kind": "nursing_round"}, "params"),
    ({"task_id": "t 1", "kind": "nursing_round", "params": {}}, "task_id"),
    ({"task_id": "t-1", "kind": "Nursing Round", "params": {}}, "kind"),
    ({"task_id": "t-1", "kind": "nursing_round", "params": []}, "params"),
    ({"task_id": "t-1", "kind": "nursing_round", "params": {}, "priority": 200}, "priority"),
    ({"task_id": "t-1", "kind": "nursing_round", "params": {}, "priority": "high"}, "priority"),
    ({"task_id": "t-1", "kind": "nursing_round", "params": {}, "deadline": "tomorrow"}, "deadline"),
    ({"task_id": "t-1", "kind": "nursing_round", "params": {}, "deadline": "2026-01-05T09:00:00"}, "deadline"),
    ({"task_id": "t-1", "kind": "nursing_round", "params": {}, "earliest_start": "2026-01-05T10:00:00Z",
      "deadline": "2026-01-05T09:00:00Z"}, "deadline"),
    ({"task_id": "t-1", "kind": "nursing_round", "params": {}, "robot_kinds": "nursing"}, "robot_kinds"),
    ({"task_id": "t-1", "kind": "nursing_round", "params": {}, "zone": 3}, "zone"),
    ({"task_id": "t-1", "kind": "nursing_round", "params": {}, "max_attempts": 0}, "max_attempts"),
    ({"task_id": "t-1", "kind": "nursing_round", "params": {}, "colour": "red"}, "colour"),
])
def test_bad_task_is_400_naming_the_field(client: TestClient, fleet: Fleet, task: dict[str, Any],
                                          field: str) -> None:
    response = client.post("/api/tasks", json=task, headers=bearer(OPERATOR))
    assert response.status_code == 400, response.text
    got_field, problem = error_of(response)
    assert got_field == field and problem
    assert fleet.service.tasks() == []


@pytest.mark.parametrize("raw", [b"", b"{not json", b"[1, 2]", b'"a string"'])
def test_a_body_that_is_no_json_object_is_400(client: TestClient, raw: bytes) -> None:
    response = client.post("/api/tasks", content=raw, headers=bearer(OPERATOR))
    assert response.status_code == 400
    assert error_of(response)[0] == "body"


def test_an_oversized_body_is_413(client: TestClient) -> None:
    task = round_task(params={"blob": "x" * 300_000})
    assert client.post("/api/tasks", json=task, headers=bearer(OPERATOR)).status_code == 413


def test_list_filters_by_state_and_names_a_bad_one(client: TestClient, fleet: Fleet) -> None:
    for task_id in ("a-1", "a-2"):
        assert client.post("/api/tasks", json=round_task(task_id), headers=bearer(OPERATOR)).status_code == 201
    client.post("/api/tasks/a-2/cancel", json={"reason": "not needed"}, headers=bearer(OPERATOR))
    listed = client.get("/api/tasks", headers=bearer(VIEWER)).json()["tasks"]
    assert [t["task_id"] for t in listed] == ["a-1", "a-2"]
    waiting = client.get("/api/tasks?state=waiting", headers=bearer(VIEWER)).json()["tasks"]
    assert [t["task_id"] for t in waiting] == ["a-1"]
    both = client.get("/api/tasks?state=waiting,cancelled", headers=bearer(VIEWER)).json()["tasks"]
    assert len(both) == 2
    repeated = client.get("/api/tasks?state=waiting&state=cancelled", headers=bearer(VIEWER)).json()["tasks"]
    assert len(repeated) == 2
    response = client.get("/api/tasks?state=sleeping", headers=bearer(VIEWER))
    assert response.status_code == 400 and error_of(response)[0] == "state"


def test_get_one_task_or_404(client: TestClient) -> None:
    client.post("/api/tasks", json=round_task(), headers=bearer(OPERATOR))
    assert client.get("/api/tasks/round-1", headers=bearer(VIEWER)).json()["kind"] == "nursing_round"
    response = client.get("/api/tasks/nope", headers=bearer(VIEWER))
    assert response.status_code == 404 and error_of(response)[0] == "task_id"


def test_cancel_names_who_and_why_and_a_second_cancel_is_409(client: TestClient, fleet: Fleet) -> None:
    client.post("/api/tasks", json=round_task(), headers=bearer(OPERATOR))
    response = client.post("/api/tasks/round-1/cancel", json={"reason": "patient discharged"},
                           headers=bearer(OPERATOR))
    assert response.status_code == 200
    assert response.json()["state"] == "cancelled"
    assert response.json()["reason"] == "cancelled by op-0001: patient discharged"
    again = client.post("/api/tasks/round-1/cancel", headers=bearer(OPERATOR))
    assert again.status_code == 409 and error_of(again)[0] == "task_id"
    unknown = client.post("/api/tasks/nope/cancel", headers=bearer(OPERATOR))
    assert unknown.status_code == 404
    bad = client.post("/api/tasks/round-1/cancel", json={"reason": 5}, headers=bearer(OPERATOR))
    assert bad.status_code == 400 and error_of(bad)[0] == "reason"
    extra = client.post("/api/tasks/round-1/cancel", json={"why": "x"}, headers=bearer(OPERATOR))
    assert extra.status_code == 400 and error_of(extra)[0] == "why"


def test_cancel_of_a_dispatched_task_cancels_it_on_the_robot(client: TestClient, fleet: Fleet) -> None:
    fleet.robot("nurse-a", "nursing", {"nursing_round": ROUND_SCHEMA}, at="dock-a", serves="ward-a")
    client.post("/api/tasks", json=round_task(), headers=bearer(OPERATOR))
    fleet.step()
    assert fleet.service.task("round-1").state is TaskState.DISPATCHED  # type: ignore[union-attr]
    client.post("/api/tasks/round-1/cancel", headers=bearer(OPERATOR))
    cancels = fleet.outbox.commands("nurse-a", "cancel")
    assert [c["params"]["mission_id"] for c in cancels] == ["round-1"]


# ---- robots and the fire panel -----------------------------------------------------------------


def test_robots_show_the_fleets_view_and_assignment(client: TestClient, fleet: Fleet) -> None:
    fleet.robot("nurse-a", "nursing", {"nursing_round": ROUND_SCHEMA}, at="dock-a", serves="ward-a")
    fleet.robot("nurse-b", "nursing", {"nursing_round": ROUND_SCHEMA}, at="dock-b", serves="ward-b", soc=0.1)
    client.post("/api/tasks", json=round_task(), headers=bearer(OPERATOR))
    fleet.step()
    robots = {r["robot_id"]: r for r in client.get("/api/robots", headers=bearer(VIEWER)).json()["robots"]}
    a, b = robots["nurse-a"], robots["nurse-b"]
    assert a["online"] and a["available"] and a["kind"] == "nursing" and a["serves"] == "ward-a"
    assert a["missions"] == ["nursing_round"] and a["tasks"] == ["round-1"]
    assert a["pose"]["x_m"] == 0 and a["soc_fraction"] == 0.9
    # below the work threshold: the fleet sent it to charge, and says so
    assert not b["available"] and b["unavailable"] == "charging" and b["charging_planned"] and b["tasks"] == []


def test_fire_panel_parks_every_robot_and_clears(client: TestClient, fleet: Fleet) -> None:
    fleet.robot("nurse-a", "nursing", {"nursing_round": ROUND_SCHEMA}, at="dock-a", serves="ward-a")
    fleet.step()
    response = client.post("/api/fire-panel", json={"active": True, "reason": "zone 3 detector"},
                           headers=bearer(OPERATOR))
    assert response.status_code == 200 and response.json()["active"] is True
    assert fleet.service.alarm.active
    [park] = fleet.outbox.commands("nurse-a", "building_alarm")
    assert park["params"]["active"] is True and park["params"]["park_at"]
    assert park["issued_by"]["user"] == fleet.config.service_user
    client.post("/api/fire-panel", json={"active": False, "reason": "all clear"}, headers=bearer(OPERATOR))
    assert not fleet.service.alarm.active


@pytest.mark.parametrize(("body", "field"), [({}, "active"), ({"active": "yes"}, "active"),
                                             ({"active": True, "reason": ""}, "reason"),
                                             ({"active": True, "where": "x"}, "where")])
def test_bad_fire_panel_input_is_400(client: TestClient, fleet: Fleet, body: dict[str, Any], field: str) -> None:
    response = client.post("/api/fire-panel", json=body, headers=bearer(OPERATOR))
    assert response.status_code == 400 and error_of(response)[0] == field
    assert not fleet.service.alarm.active


# ---- the users file ----------------------------------------------------------------------------


def test_users_file_is_the_dashboards_format(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    path.write_text(f"users:\n  op-0001:\n    roles: [operator]\n    token_sha256: {hash_token('t')}\n"
                    "  vw-0001:\n    roles: [viewer]\n    password_hash: scrypt$1$1$1$AA==$AA==\n", encoding="utf-8")
    accounts = load_users(path)
    assert accounts["op-0001"].can_write and not accounts["vw-0001"].can_write
    assert ApiAuthenticator(accounts).identify("Bearer t") == accounts["op-0001"]


@pytest.mark.parametrize(("text", "needle"), [
    ("op-0001: {roles: [admin], token_sha256: x}", "roles"),
    ("op-0001: {roles: [operator]}", "token_sha256"),
    ("Op 1: {roles: [operator], token_sha256: x}", "staff id"),
    ("- a\n- b", "mapping"),
])
def test_bad_users_file_names_the_problem(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "users.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsersFileError, match=needle):
        load_users(path)
