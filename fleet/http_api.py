"""The fleet service's HTTP API (Starlette): submit, list and cancel tasks, the robots as the fleet
sees them, the building's fire panel.

    POST /api/tasks                 submit (JSON: the `task` object of a tasks/request)   operator
    GET  /api/tasks?state=a,b       list (state repeated or comma-separated)               any role
    GET  /api/tasks/{task_id}       one task                                               any role
    POST /api/tasks/{id}/cancel     cancel ({"reason": "..."} optional)                    operator
    GET  /api/robots                the fleet's view of each robot and its assignment      any role
    POST /api/fire-panel            {"active": true|false, "reason": "..."}                operator
    GET  /api/kpis                  the service's KPIs                                     any role
    GET  /api/health                liveness, no credentials

**Accounts** are the dashboard's users file (`--users`, YAML or JSON: ``{staff-id: {roles:
[operator|clinical|viewer], token_sha256 | password_hash}}``, optionally under ``users:``), so one
file serves both. The dashboard's browser sessions (cookie + CSRF token) suit a page, not an API
client, so here a request carries ``Authorization: Bearer <token>`` (checked against
``token_sha256``) or HTTP Basic with the account's password (checked against the same scrypt
``password_hash``; a verified password is remembered for a few minutes so that a script does not
pay scrypt's 0.1 s on every call). No or wrong credentials: 401; a role that may not do it: 403.
`fleet/` may not import `dashboard/`, hence the few lines of the same format read again here.

**Errors** are JSON ``{"error": {"field": ..., "problem": ...}}``: 400 for bad input (naming the
field, e.g. ``deadline``), 404 for an unknown task, 409 for cancelling a task that already ended,
413 for a body over 256 KiB. The service's methods are thread-safe; they run on Starlette's thread
pool, never on the event loop (a submit commits to the store).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fleet.config import FleetConfig
from fleet.requests import request_from_body
from fleet.robots import RobotView
from fleet.tasks import FINAL_STATES, Task, TaskError, TaskRequest, TaskState

ROLES = ("operator", "clinical", "viewer")
#: roles that may change anything (submit, cancel, the fire panel); every known role may read
WRITE_ROLES = frozenset({"operator"})
USER_ID = re.compile(r"[a-z0-9-]{1,64}")
MAX_BODY_BYTES = 256 * 1024
#: a verified Basic password is trusted this long before scrypt runs again
PASSWORD_CACHE_S = 300.0
_SCRYPT_MAXMEM = 256 * 1024 * 1024


class UsersFileError(ValueError):
    pass


@dataclass(frozen=True)
class ApiAccount:
    user: str
    roles: frozenset[str]
    token_sha256: str | None = None
    password_hash: str | None = None

    @property
    def can_write(self) -> bool:
        return bool(self.roles & WRITE_ROLES)

    @property
    def role(self) -> str:
        """The role the account acts in (what ``issued_by.role`` would say)."""
        return "operator" if self.can_write else "viewer"


def accounts_from_dict(data: Mapping[str, Any], source: str = "users") -> dict[str, ApiAccount]:
    """The dashboard's users format: ``{staff-id: {roles: [...], token_sha256 | password_hash}}``."""
    if "users" in data and isinstance(data["users"], Mapping):
        data = data["users"]
    accounts: dict[str, ApiAccount] = {}
    for user, spec in data.items():
        if not isinstance(user, str) or USER_ID.fullmatch(user) is None:
            raise UsersFileError(f"{source}: account id {user!r} must be a staff id of a-z, 0-9 and '-'")
        if not isinstance(spec, Mapping):
            raise UsersFileError(f"{source}: {user}: expected a mapping with roles and a credential")
        roles = spec.get("roles")
        if not isinstance(roles, list) or not roles or not set(roles) <= set(ROLES):
            raise UsersFileError(f"{source}: {user}.roles: must be a list of {', '.join(ROLES)}, got {roles!r}")
        token, password = spec.get("token_sha256"), spec.get("password_hash")
        if token is None and password is None:
            raise UsersFileError(f"{source}: {user}: needs token_sha256 or password_hash")
        accounts[user] = ApiAccount(user, frozenset(roles), token, password)
    return accounts


def load_users(path: str | Path) -> dict[str, ApiAccount]:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}  # YAML reads JSON too
    except OSError as exc:
        raise UsersFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise UsersFileError(f"{path}: not YAML/JSON: {exc}") from None
    if not isinstance(data, Mapping):
        raise UsersFileError(f"{path}: expected a mapping of accounts")
    return accounts_from_dict(data, str(path))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh access token and the ``token_sha256`` that goes into the users file."""
    token = secrets.token_urlsafe(24)
    return token, hash_token(token)


def _verify_scrypt(password: str, stored: str) -> bool:
    """The dashboard's ``scrypt$N$r$p$<salt b64>$<hash b64>``."""
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt_b64), n=int(n), r=int(r), p=int(p),
                                dklen=32, maxmem=_SCRYPT_MAXMEM)
    except (ValueError, TypeError, binascii.Error):
        return False
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


@dataclass
class ApiAuthenticator:
    accounts: dict[str, ApiAccount]
    _verified: dict[str, tuple[str, float]] = field(default_factory=dict)  # sha256(user:pw) -> (user, until)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def identify(self, authorization: str | None) -> ApiAccount | None:
        """The account an ``Authorization`` header proves, or None. Blocking (scrypt): call it
        off the event loop."""
        if not authorization:
            return None
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and value:
            digest = hash_token(value)
            found = None
            for account in self.accounts.values():  # every one compared: the time says nothing
                if account.token_sha256 is not None and hmac.compare_digest(account.token_sha256, digest):
                    found = account
            return found
        if scheme.lower() == "basic" and value:
            try:
                user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            return self._password(user, password)
        return None

    def _password(self, user: str, password: str) -> ApiAccount | None:
        key = hashlib.sha256(f"{user}\0{password}".encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            cached = self._verified.get(key)
        if cached is not None and cached[1] > now and cached[0] in self.accounts:
            return self.accounts[cached[0]]
        account = self.accounts.get(user)
        if account is None or account.password_hash is None or not _verify_scrypt(password, account.password_hash):
            return None
        with self._lock:
            if len(self._verified) > 1000:
                self._verified.clear()
            self._verified[key] = (user, now + PASSWORD_CACHE_S)
        return account


class FleetApi(Protocol):
    """What the API needs of `fleet.service.FleetService` (all thread-safe)."""

    config: FleetConfig

    def submit(self, request: TaskRequest, now_s: float) -> Task: ...

    def cancel(self, task_id: str, now_s: float, *, by: str, reason: str | None = None) -> Task: ...

    def tasks(self, states: Iterable[TaskState] | None = None) -> list[Task]: ...

    def task(self, task_id: str) -> Task | None: ...

    def robots(self) -> list[RobotView]: ...

    def assignments(self) -> dict[str, list[str]]: ...

    def fire_panel(self, active: bool, reason: str, now_s: float) -> None: ...

    def kpis(self) -> dict[str, Any]: ...


class ApiError(Exception):
    def __init__(self, status: int, field_path: str, problem: str) -> None:
        super().__init__(f"{field_path}: {problem}")
        self.status = status
        self.field = field_path
        self.problem = problem

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Bearer realm="medbot-fleet"'} if self.status == 401 else None
        return JSONResponse({"error": {"field": self.field, "problem": self.problem}}, self.status, headers=headers)


def robot_body(robot: RobotView, tasks: list[str], work_threshold_soc: float) -> dict[str, Any]:
    return {
        "robot_id": robot.robot_id, "kind": robot.kind, "online": robot.online,
        "available": robot.unavailable_reason(work_threshold_soc) is None,
        "unavailable": robot.unavailable_reason(work_threshold_soc),
        "missions": sorted(robot.missions), "home_dock": robot.home_dock, "serves": robot.serves,
        "confined": robot.confined,
        "pose": {"x_m": robot.x_m, "y_m": robot.y_m, "level": robot.level} if robot.has_state else None,
        "soc_fraction": robot.soc_fraction if robot.has_state else None, "charging": robot.charging,
        "charging_planned": robot.charging_planned, "safety_state": robot.safety_state,
        "estopped": robot.estopped, "paused": robot.paused, "mission": robot.mission,
        #: the task on the robot first, then the ones planned for it
        "tasks": tasks,
    }


def create_app(service: FleetApi, auth: ApiAuthenticator, clock_s: Callable[[], float]) -> Starlette:
    """The API over ``service``; ``clock_s`` is the service's clock (a scaled one in tests)."""

    async def account_for(request: Request, *, write: bool) -> ApiAccount:
        header = request.headers.get("authorization")
        account = await run_in_threadpool(auth.identify, header)
        if account is None:
            raise ApiError(401, "authorization", "missing or wrong credentials (Authorization: Bearer <token>)")
        if write and not account.can_write:
            raise ApiError(403, "role", f"{account.user} ({', '.join(sorted(account.roles))}) may only read")
        return account

    async def json_body(request: Request, *, required: bool = True) -> dict[str, Any]:
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            raise ApiError(413, "body", f"larger than {MAX_BODY_BYTES} bytes")
        if not raw.strip():
            if required:
                raise ApiError(400, "body", "a JSON object is required")
            return {}
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ApiError(400, "body", f"not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ApiError(400, "body", f"must be a JSON object, got {type(data).__name__}")
        return data

    def guarded(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            try:
                result: Response = await handler(request)
                return result
            except ApiError as exc:
                return exc.response()
            except TaskError as exc:
                return ApiError(400, exc.field, exc.problem).response()

        return endpoint

    async def submit(request: Request) -> Response:
        account = await account_for(request, write=True)
        body = await json_body(request)
        now_s = clock_s()
        task_request = request_from_body(body, now_s, requested_by=account.user)

        def run() -> tuple[Task, bool]:
            known = service.task(task_request.task_id) is not None
            return service.submit(task_request, now_s), not known

        task, created = await run_in_threadpool(run)
        # the same task id again is the same task (idempotent): 200 with it, not a second one
        return JSONResponse(task.as_dict(), 201 if created else 200)

    async def list_tasks(request: Request) -> Response:
        await account_for(request, write=False)
        wanted: list[TaskState] | None = None
        raw = [s for value in request.query_params.getlist("state") for s in value.split(",") if s.strip()]
        if raw:
            try:
                wanted = [TaskState(s.strip()) for s in raw]
            except ValueError:
                known = ", ".join(s.value for s in TaskState)
                raise ApiError(400, "state", f"unknown state in {raw}; known: {known}") from None
        tasks = await run_in_threadpool(service.tasks, wanted)
        return JSONResponse({"tasks": [t.as_dict() for t in tasks]})

    async def get_task(request: Request) -> Response:
        await account_for(request, write=False)
        task_id = request.path_params["task_id"]
        task = await run_in_threadpool(service.task, task_id)
        if task is None:
            raise ApiError(404, "task_id", f"no task {task_id}")
        return JSONResponse(task.as_dict())

    async def cancel(request: Request) -> Response:
        account = await account_for(request, write=True)
        task_id = request.path_params["task_id"]
        body = await json_body(request, required=False)
        reason = body.get("reason")
        if reason is not None and (not isinstance(reason, str) or len(reason) > 200):
            raise ApiError(400, "reason", "must be a string of at most 200 characters")
        unknown = sorted(set(body) - {"reason"})
        if unknown:
            raise ApiError(400, unknown[0], "unknown field (known: reason)")

        def run() -> Task:
            try:
                return service.cancel(task_id, clock_s(), by=account.user, reason=reason)
            except KeyError:
                raise ApiError(404, "task_id", f"no task {task_id}") from None
            except TaskError as exc:
                task = service.task(task_id)
                if task is not None and task.state in FINAL_STATES:
                    raise ApiError(409, "task_id", exc.problem) from None
                raise

        task = await run_in_threadpool(run)
        return JSONResponse(task.as_dict())

    async def robots(request: Request) -> Response:
        await account_for(request, write=False)

        def run() -> list[dict[str, Any]]:
            assignments = service.assignments()
            threshold = service.config.work_threshold_soc
            return [robot_body(r, assignments.get(r.robot_id, []), threshold) for r in service.robots()]

        return JSONResponse({"robots": await run_in_threadpool(run)})

    async def fire_panel(request: Request) -> Response:
        account = await account_for(request, write=True)
        body = await json_body(request)
        unknown = sorted(set(body) - {"active", "reason"})
        if unknown:
            raise ApiError(400, unknown[0], "unknown field (known: active, reason)")
        active = body.get("active")
        if not isinstance(active, bool):
            raise ApiError(400, "active", "is required: true (alarm) or false (cleared by the fire team)")
        reason = body.get("reason", "fire panel")
        if not isinstance(reason, str) or not 0 < len(reason) <= 200:
            raise ApiError(400, "reason", "must be a non-empty string of at most 200 characters")
        await run_in_threadpool(service.fire_panel, active, f"{reason} ({account.user})", clock_s())
        return JSONResponse({"active": active, "reason": reason})

    async def kpis(request: Request) -> Response:
        await account_for(request, write=False)
        return JSONResponse(await run_in_threadpool(service.kpis))

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes = [
        Route("/api/tasks", guarded(submit), methods=["POST"]),
        Route("/api/tasks", guarded(list_tasks), methods=["GET"]),
        Route("/api/tasks/{task_id}", guarded(get_task), methods=["GET"]),
        Route("/api/tasks/{task_id}/cancel", guarded(cancel), methods=["POST"]),
        Route("/api/robots", guarded(robots), methods=["GET"]),
        Route("/api/fire-panel", guarded(fire_panel), methods=["POST"]),
        Route("/api/kpis", guarded(kpis), methods=["GET"]),
        Route("/api/health", health, methods=["GET"]),
    ]
    return Starlette(routes=routes)
