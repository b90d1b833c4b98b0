"""The dashboard's web server (Starlette + uvicorn): pages, JSON API, WebSocket push, commands.

`create_app(...)` builds the ASGI app around a `FleetState` fed by a `FleetLink`; `start_in_thread`
serves it on a background thread for `medbot sim --dashboard` and the tests.

Security model: a session cookie (HttpOnly, SameSite=Strict) identifies the user; every POST must
also carry the session's CSRF token in ``X-CSRF-Token`` and, when the browser sends one, an Origin
equal to this server's; the WebSocket checks the Origin too (no cross-site WebSocket hijacking).
Roles are enforced here, on the server: a viewer's command or task request is refused with 403
whatever the page shows, and clinical records and patient references go only to sessions with the
clinical role.

Task requests (submit, cancel) go to the fleet service on ``<site>/fleet/tasks/request`` through the
same link path as commands: ``issued_by`` is the logged-in operator, the body is checked against the
``task_request`` schema before anything is sent, and the fleet answers on ``tasks``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from dashboard.auth import CSRF_HEADER, SESSION_COOKIE, Account, Authenticator, Session, demo_accounts
from dashboard.link import FleetLink, NotConnected
from dashboard.state import FleetState, redact_alert
from dashboard.tasks import redact_task, redact_text
from telemetry.commands import COMMANDS, command_body
from telemetry.envelope import iso_timestamp
from telemetry.topics import check_segment
from telemetry.validate import PayloadError

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "static"
#: how often changes are pushed to browsers (coalesced: a robot's pose moves once per push)
PUSH_PERIOD_S = 0.25


@dataclass
class _Client:
    websocket: WebSocket
    session: Session


@dataclass
class DashboardApp:
    state: FleetState
    link: FleetLink | None
    auth: Authenticator
    world_json: dict[str, Any]
    ack_log: Path | None = None
    clients: list[_Client] = field(default_factory=list)

    # -- helpers -----------------------------------------------------------------------------

    def session_of(self, conn: HTTPConnection) -> Session | None:
        return self.auth.session(conn.cookies.get(SESSION_COOKIE))

    @staticmethod
    def same_origin(conn: HTTPConnection) -> bool:
        origin = conn.headers.get("origin")
        if origin is None:
            return True  # not a browser cross-site request (browsers always send Origin on POST/WS)
        return origin == f"{'https' if conn.url.scheme in ('https', 'wss') else 'http'}://{conn.headers.get('host')}"

    def guard_post(self, request: Request) -> Session | JSONResponse:
        session = self.session_of(request)
        if session is None:
            return JSONResponse({"error": "not logged in"}, status_code=401)
        if not self.same_origin(request) or not self.auth.csrf_ok(session, request.headers.get(CSRF_HEADER)):
            return JSONResponse({"error": "CSRF check failed"}, status_code=403)
        return session

    def commanding_account(self, request: Request, what: str) -> Account | JSONResponse:
        """The logged-in operator behind a POST, or the refusal (401, CSRF 403, or 403 for a viewer)."""
        guarded = self.guard_post(request)
        if isinstance(guarded, JSONResponse):
            return guarded
        if not guarded.account.can_command:
            return JSONResponse({"error": f"user {guarded.account.user} may not {what}"}, status_code=403)
        return guarded.account

    @staticmethod
    async def json_object(request: Request) -> dict[str, Any] | None:
        try:
            data = await request.json()
        except ValueError:  # not JSON at all: a 400, not a server error
            return None
        return data if isinstance(data, dict) else None

    def view_event(self, event: dict[str, Any], session: Session) -> dict[str, Any] | None:
        if session.account.can_see_clinical:
            return event
        if event["type"] == "clinical":
            return None
        if event["type"] == "alert":
            return {**event, "alert": redact_alert(event["alert"])}
        if event["type"] == "task":
            return {**event, "task": redact_task(event["task"])}
        if event["type"] == "task_request":
            return {**event, "request": {**event["request"], "reason": redact_text(event["request"]["reason"])}}
        return event

    # -- routes ------------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})

    async def login(self, request: Request) -> Response:
        if request.method == "GET":  # ?token=... link printed by `medbot sim --dashboard`
            session = self.auth.login_token(request.query_params.get("token", ""))
            response: Response = RedirectResponse("/", status_code=303)
        else:
            if request.headers.get("content-type", "").split(";")[0] != "application/json":
                # JSON only: a cross-site form cannot send it without a CORS preflight we never allow
                return JSONResponse({"error": "send JSON"}, status_code=415)
            data = await request.json()
            if data.get("token"):
                session = self.auth.login_token(str(data["token"]))
            else:
                session = await asyncio.to_thread(self.auth.login_password, str(data.get("user", "")),
                                                  str(data.get("password", "")))
            response = JSONResponse({"ok": session is not None}, status_code=200 if session else 401)
        if session is not None:
            response.set_cookie(SESSION_COOKIE, session.session_id, httponly=True, samesite="strict",
                                secure=request.url.scheme == "https", path="/")
        return response

    async def logout(self, request: Request) -> Response:
        guarded = self.guard_post(request)
        if isinstance(guarded, JSONResponse):
            return guarded
        self.auth.logout(guarded.session_id)
        response = JSONResponse({"ok": True})
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def me(self, request: Request) -> Response:
        session = self.session_of(request)
        if session is None:
            return JSONResponse({"error": "not logged in"}, status_code=401)
        account = session.account
        return JSONResponse({"user": account.user, "roles": sorted(account.roles), "csrf_token": session.csrf_token,
                             "can_command": account.can_command, "can_see_clinical": account.can_see_clinical})

    async def world_map(self, request: Request) -> Response:
        if self.session_of(request) is None:
            return JSONResponse({"error": "not logged in"}, status_code=401)
        return JSONResponse(self.world_json)

    async def snapshot(self, request: Request) -> Response:
        session = self.session_of(request)
        if session is None:
            return JSONResponse({"error": "not logged in"}, status_code=401)
        return JSONResponse(self.state.snapshot(clinical=session.account.can_see_clinical))

    async def media(self, request: Request) -> Response:
        if self.session_of(request) is None:
            return JSONResponse({"error": "not logged in"}, status_code=401)
        item = self.state.media_item(request.path_params["sha256"])
        if item is None:
            return JSONResponse({"error": "no such media"}, status_code=404)
        return Response(item.data, media_type=item.content_type, headers={"Cache-Control": "private, max-age=3600"})

    async def command(self, request: Request) -> Response:
        account = self.commanding_account(request, "command robots")
        if isinstance(account, JSONResponse):
            return account
        data = await self.json_object(request)
        if data is None:
            return JSONResponse({"error": "send a JSON object"}, status_code=400)
        command, robot_key, params = data.get("command"), str(data.get("robot_key", "")), data.get("params") or {}
        site, _, robot_id = robot_key.partition("/")
        if command not in COMMANDS or not isinstance(params, dict) or not robot_id:
            return JSONResponse({"error": f"need robot_key 'site/robot', command one of {list(COMMANDS)}, params {{}}"},
                                status_code=400)
        command_id = f"dash-{uuid.uuid4().hex}"
        try:
            body = command_body(command_id, command, site, robot_id, user=account.user, role="operator",
                                params=params)
            if self.link is None:
                raise NotConnected("no broker configured")
            now_s = time.time()
            entry = self.state.record_command(command_id, robot_key, command, params, account.user,
                                              iso_timestamp(now_s))
            self.link.send_command(body, now_s)
        except PayloadError as exc:
            self.state.command_failed(command_id, f"rejected before sending: {exc.path}: {exc.reason}")
            return JSONResponse({"error": f"{exc.path}: {exc.reason}", "command_id": command_id}, status_code=400)
        except (NotConnected, ValueError) as exc:
            self.state.command_failed(command_id, str(exc))
            return JSONResponse({"error": str(exc), "command_id": command_id}, status_code=503)
        return JSONResponse({"command_id": command_id, "command": entry}, status_code=202)

    async def submit_task(self, request: Request) -> Response:
        """``{"site"?, "task": {"kind", "params", "priority"?, "robot_kinds"?, "deadline"?, ...,
        "task_id"?}}`` -> a ``submit`` on the site's tasks/request topic; 202 once published."""
        account = self.commanding_account(request, "submit tasks")
        if isinstance(account, JSONResponse):
            return account
        data = await self.json_object(request)
        task = None if data is None else data.get("task")
        if data is None or not isinstance(task, dict):
            return JSONResponse({"error": "need {site, task: {kind, params, ...}}"}, status_code=400)
        site = self.task_site(data.get("site"))
        if isinstance(site, JSONResponse):
            return site
        # an id the page chose is kept, so resending after a 503 is the same task, never a second one
        task = {**task, "task_id": task.get("task_id") or f"dash-{uuid.uuid4().hex[:12]}"}
        body = {"action": "submit", "issued_by": {"user": account.user, "role": "operator"}, "task": task}
        kind = task.get("kind")
        return self.send_task_request(site, body, str(task["task_id"]), kind if isinstance(kind, str) else None,
                                      account.user)

    async def cancel_task(self, request: Request) -> Response:
        """``{"site"?, "task_id", "reason"?}`` -> a ``cancel`` on the site's tasks/request topic."""
        account = self.commanding_account(request, "cancel tasks")
        if isinstance(account, JSONResponse):
            return account
        data = await self.json_object(request)
        task_id = None if data is None else data.get("task_id")
        if data is None or not isinstance(task_id, str) or not task_id:
            return JSONResponse({"error": "need {site, task_id, reason?}"}, status_code=400)
        site = self.task_site(data.get("site"))
        if isinstance(site, JSONResponse):
            return site
        body: dict[str, Any] = {"action": "cancel", "issued_by": {"user": account.user, "role": "operator"},
                                "task_id": task_id}
        if data.get("reason") is not None:
            body["reason"] = data["reason"]
        return self.send_task_request(site, body, task_id, None, account.user)

    def task_site(self, site: Any) -> str | JSONResponse:
        """The site a task request goes to: as named, or the only one this dashboard knows."""
        if site is None:
            sites = self.state.sites()
            if len(sites) != 1:
                return JSONResponse({"error": f"name the site: one of {sites}"}, status_code=400)
            site = sites[0]
        try:
            return check_segment(site, "site")
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    def send_task_request(self, site: str, body: dict[str, Any], task_id: str, kind: str | None,
                          user: str) -> Response:
        request_id = f"dash-{uuid.uuid4().hex}"
        try:
            if self.link is None:
                raise NotConnected("no broker configured")
            now_s = time.time()
            entry = self.state.record_task_request(request_id, site, body["action"], task_id, kind, user,
                                                   iso_timestamp(now_s))
            self.link.send_task_request(site, body, now_s)
        except PayloadError as exc:
            self.state.task_request_failed(request_id, f"rejected before sending: {exc.path}: {exc.reason}")
            return JSONResponse({"error": f"{exc.path}: {exc.reason}", "request_id": request_id}, status_code=400)
        except (NotConnected, ValueError) as exc:
            self.state.task_request_failed(request_id, str(exc))
            return JSONResponse({"error": str(exc), "request_id": request_id}, status_code=503)
        return JSONResponse({"request_id": request_id, "task_id": task_id, "request": entry}, status_code=202)

    async def ack_alert(self, request: Request) -> Response:
        guarded = self.guard_post(request)
        if isinstance(guarded, JSONResponse):
            return guarded
        if "viewer" in guarded.account.roles and len(guarded.account.roles) == 1:
            return JSONResponse({"error": "viewers may not acknowledge alerts"}, status_code=403)
        data = await request.json()
        at = iso_timestamp(time.time())
        alert = self.state.acknowledge_alert(str(data.get("key", "")), guarded.account.user, at)
        if alert is None:
            return JSONResponse({"error": "no such alert"}, status_code=404)
        if self.ack_log is not None:  # who acknowledged what, when: kept beyond this process
            with self.ack_log.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"alert": alert["key"], "by": alert["acked_by"], "at": alert["acked_at"]}) + "\n")
        return JSONResponse({"alert": alert})

    async def websocket(self, websocket: WebSocket) -> None:
        session = self.session_of(websocket)
        if session is None or not self.same_origin(websocket):
            await websocket.close(code=4401)
            return
        await websocket.accept()
        client = _Client(websocket, session)
        self.clients.append(client)
        try:
            await websocket.send_json(self.state.snapshot(clinical=session.account.can_see_clinical))
            while True:
                await websocket.receive_text()  # the page sends nothing that matters; this notices a close
        except WebSocketDisconnect:
            pass
        finally:
            with contextlib.suppress(ValueError):
                self.clients.remove(client)

    async def push_loop(self) -> None:
        while True:
            await asyncio.sleep(PUSH_PERIOD_S)
            robots, events, kpis, fleet_time_s = self.state.drain()
            if not (robots or events or kpis) or not self.clients:
                continue
            for client in list(self.clients):
                viewed = [e for e in (self.view_event(ev, client.session) for ev in events) if e is not None]
                message = {"type": "update", "robots": robots, "events": viewed, "kpis": kpis,
                           "fleet_time_s": fleet_time_s}
                try:
                    await client.websocket.send_json(message)
                except Exception:  # a browser that went away: forget it
                    with contextlib.suppress(ValueError):
                        self.clients.remove(client)

    def build(self) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            task = asyncio.create_task(self.push_loop())
            try:
                yield
            finally:
                task.cancel()

        routes = [
            Route("/", self.index),
            Route("/login", self.login, methods=["GET", "POST"]),
            Route("/api/logout", self.logout, methods=["POST"]),
            Route("/api/me", self.me),
            Route("/api/map", self.world_map),
            Route("/api/snapshot", self.snapshot),
            Route("/api/commands", self.command, methods=["POST"]),
            Route("/api/tasks", self.submit_task, methods=["POST"]),
            Route("/api/tasks/cancel", self.cancel_task, methods=["POST"]),
            Route("/api/alerts/ack", self.ack_alert, methods=["POST"]),
            Route("/media/{sha256:str}", self.media),
            WebSocketRoute("/ws", self.websocket),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ]
        return Starlette(routes=routes, lifespan=lifespan)


def create_app(state: FleetState, link: FleetLink | None, accounts: dict[str, Account], world_json: dict[str, Any],
               *, ack_log: Path | None = None) -> tuple[Starlette, DashboardApp]:
    dashboard = DashboardApp(state, link, Authenticator(accounts), world_json, ack_log)
    return dashboard.build(), dashboard


@dataclass
class RunningDashboard:
    url: str
    state: FleetState
    link: FleetLink
    app: DashboardApp
    #: user -> a URL that logs that user in (demo accounts only; empty for configured accounts)
    login_urls: dict[str, str]
    _server: uvicorn.Server
    _thread: threading.Thread

    def stop(self, timeout_s: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout_s)
        self.link.stop()


def start_in_thread(broker_url: str, world_json: dict[str, Any], *, host: str = "127.0.0.1", port: int = 0,
                    users: dict[str, Account] | None = None, ack_log: Path | None = None,
                    startup_timeout_s: float = 10.0) -> RunningDashboard:
    """Serve the dashboard for ``broker_url`` on a background thread; ``port=0`` picks a free port.

    Without ``users``, two demo accounts get fresh random tokens: ``login_urls`` holds a link per user.
    """
    tokens: dict[str, str] = {}
    if users is None:
        users, tokens = demo_accounts()
    state = FleetState()
    link = FleetLink(broker_url, state)
    app, dashboard = create_app(state, link, users, world_json, ack_log=ack_log)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    url = f"http://{host}:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", ws="websockets-sansio"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="medbot-dashboard", daemon=True)
    link.start()
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            link.stop()
            raise RuntimeError(f"dashboard did not start on {url} within {startup_timeout_s} s")
        time.sleep(0.02)
    login_urls = {user: f"{url}/login?token={token}" for user, token in tokens.items()}
    return RunningDashboard(url, state, link, dashboard, login_urls, server, thread)
