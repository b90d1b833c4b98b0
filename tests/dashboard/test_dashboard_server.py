"""The web server's guards (login, CSRF, origin, roles) through Starlette's TestClient; no browser."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from dashboard.auth import Account, hash_password, hash_token, verify_password
from dashboard.link import FleetLink
from dashboard.server import create_app
from dashboard.state import FleetState
from telemetry.envelope import make_envelope
from telemetry.examples import example_body
from telemetry.topics import Channel, topic_for

BASE = "http://testserver"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def password_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture
def app(password_hash: str) -> Iterator[tuple[Any, FleetState]]:
    accounts = {"op-1": Account("op-1", frozenset({"operator"}), password_hash=password_hash),
                "cl-1": Account("cl-1", frozenset({"clinical"}), token_sha256=hash_token("clinical-token")),
                "vw-1": Account("vw-1", frozenset({"viewer"}), token_sha256=hash_token("viewer-token"))}
    state = FleetState()
    state.ingest(topic_for("ward-3", "rover-01", Channel.CLINICAL),
                 make_envelope(Channel.CLINICAL, "rover-01", 0, 1767600000.0, example_body(Channel.CLINICAL)))
    link = FleetLink("mqtt://127.0.0.1:9", state)  # never started: the broker is "down"
    asgi, _ = create_app(state, link, accounts, {"bounds_m": [0, 0, 10, 10]})
    yield asgi, state


def login(client: TestClient, **body: str) -> str:
    response = client.post("/login", json=body)
    assert response.status_code == 200, response.text
    me = client.get("/api/me").json()
    return str(me["csrf_token"])


def test_passwords_are_hashed_and_checked() -> None:
    stored = hash_password("s3cret")
    assert stored.startswith("scrypt$") and "s3cret" not in stored
    assert verify_password("s3cret", stored)
    assert not verify_password("s3cret!", stored)
    assert hash_password("s3cret") != stored  # salted


def test_login_sets_a_strict_httponly_cookie_and_a_wrong_password_is_refused(app: Any) -> None:
    client = TestClient(app[0], base_url=BASE)
    assert client.post("/login", json={"user": "op-1", "password": "wrong"}).status_code == 401
    assert client.get("/api/snapshot").status_code == 401
    response = client.post("/login", json={"user": "op-1", "password": PASSWORD})
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert client.get("/api/snapshot").status_code == 200
    # a cross-site HTML form cannot post JSON without a preflight: form posts are refused
    assert client.post("/login", data={"user": "op-1", "password": PASSWORD}).status_code == 415


def test_command_posts_need_the_csrf_token_and_this_origin(app: Any) -> None:
    client = TestClient(app[0], base_url=BASE)
    csrf = login(client, user="op-1", password=PASSWORD)
    body = {"robot_key": "ward-3/rover-01", "command": "pause", "params": {}}
    assert client.post("/api/commands", json=body).status_code == 403
    assert client.post("/api/commands", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert client.post("/api/commands", json=body,
                       headers={"X-CSRF-Token": csrf, "Origin": "http://evil.example"}).status_code == 403
    # past the guards the command is built; the broker is down, so it is not sent and says why
    response = client.post("/api/commands", json=body, headers={"X-CSRF-Token": csrf, "Origin": BASE})
    assert response.status_code == 503 and "no connection" in response.json()["error"]
    # a command that breaks the contract is refused before anything is sent
    bad = {**body, "params": {"unexpected": 1}}
    assert client.post("/api/commands", json=bad, headers={"X-CSRF-Token": csrf}).status_code == 400


def test_a_viewer_may_not_command_whatever_it_sends(app: Any) -> None:
    client = TestClient(app[0], base_url=BASE)
    csrf = login(client, token="viewer-token")
    for command in ("pause", "remote_estop", "dispatch"):
        response = client.post("/api/commands", json={"robot_key": "ward-3/rover-01", "command": command,
                                                      "params": {}}, headers={"X-CSRF-Token": csrf})
        assert response.status_code == 403, command
    assert app[1].commands == {}, "nothing was recorded as sent"


def test_clinical_records_are_served_to_the_clinical_role_only(app: Any) -> None:
    viewer, clinician = TestClient(app[0], base_url=BASE), TestClient(app[0], base_url=BASE)
    login(viewer, token="viewer-token")
    login(clinician, token="clinical-token")
    assert viewer.get("/api/snapshot").json()["clinical"] is None
    records = clinician.get("/api/snapshot").json()["clinical"]
    assert [r["patient_ref"] for r in records] == [example_body(Channel.CLINICAL)["patient_ref"]]


def test_the_websocket_needs_a_session_and_this_origin(app: Any) -> None:
    client = TestClient(app[0], base_url=BASE)
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws") as ws:
        ws.receive_json()
    login(client, token="viewer-token")
    with pytest.raises(WebSocketDisconnect), \
            client.websocket_connect("/ws", headers={"Origin": "http://evil.example"}) as ws:
        ws.receive_json()
    with client.websocket_connect("/ws", headers={"Origin": BASE}) as ws:
        snapshot = ws.receive_json()
    assert snapshot["type"] == "snapshot" and snapshot["clinical"] is None
