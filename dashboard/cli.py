"""``medbot dashboard --broker URL``: serve the operator dashboard until interrupted."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Any

import click
import yaml

from dashboard.auth import Account, accounts_from_dict, hash_password
from dashboard.server import start_in_thread


def _load_users(path: Path) -> dict[str, Account]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    try:
        return accounts_from_dict(data.get("users") or data)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise click.BadParameter(f"{path}: {exc}", param_hint="--users") from None


def _load_map(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise click.BadParameter(f"{path}: {exc}", param_hint="--map") from None
    if not isinstance(data, dict) or "bounds_m" not in data:
        raise click.BadParameter(f"{path}: not a map from `python -m sim.world_export`", param_hint="--map")
    return data


@click.command("dashboard")
@click.option("--broker", default=None, metavar="URL", help="MQTT broker, mqtt://host:port.")
@click.option("--map", "map_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Map JSON written by `python -m sim.world_export [world.yaml]`.")
@click.option("--users", "users_path", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="YAML: {staff-id: {roles: [operator|clinical|viewer], password_hash | token_sha256}}. "
                   "Default: demo accounts with one-time tokens printed at start.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--ack-log", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Append alert acknowledgements (who, when) to this JSON-lines file.")
@click.option("--hash-password", "hash_only", is_flag=True, help="Print a password hash for the users file and exit.")
def dashboard_command(broker: str | None, map_path: Path | None, users_path: Path | None, host: str, port: int,
                      ack_log: Path | None, hash_only: bool) -> None:
    """Serve the operator dashboard (map, robots, alerts, commands, KPIs) for the fleet on BROKER."""
    if hash_only:
        click.echo(hash_password(click.prompt("Password", hide_input=True, confirmation_prompt=True)))
        return
    if broker is None or not broker.startswith(("mqtt://", "mqtts://")):
        raise click.BadParameter(f"expected mqtt://host:port, got {broker!r}", param_hint="--broker")
    users = _load_users(users_path) if users_path is not None else None
    running = start_in_thread(broker, _load_map(map_path), host=host, port=port, users=users, ack_log=ack_log)
    click.echo(f"dashboard on {running.url} (broker {broker}); Ctrl-C to stop")
    for user, url in running.login_urls.items():
        click.echo(f"  log in as {user}: {url}")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
