"""``medbot fleet``: run the fleet service beside a hospital's broker (registered through the
``medbot.commands`` entry point, so `robots/` never imports the fleet)."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import click

from fleet.clock import ScaledClock
from fleet.config import FleetConfig, FleetConfigError, load_fleet_config
from fleet.demand import DemandError
from fleet.http_api import ApiAccount, UsersFileError, hash_token, load_users, new_token
from fleet.mqtt_link import FleetLink
from fleet.runtime import FleetRuntime, HttpSettings
from fleet.site import SiteError, load_site
from telemetry.tls import TlsConfig
from telemetry.topics import check_segment

_EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _http_bind(value: str | None) -> tuple[str, int] | None:
    if value is None:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise click.BadParameter(f"{value!r}: expected HOST:PORT, e.g. 127.0.0.1:8470 (port 0: any free one)",
                                 param_hint="--http")
    return host.strip("[]") or "127.0.0.1", int(port)


@click.group("fleet")
def fleet_command() -> None:
    """The fleet service: the hospital's tasks, given to robots over the MQTT contract."""


@fleet_command.command("run")
@click.option("--broker", required=True, help="mqtt://host:port or mqtts://host:port")
@click.option("--site", required=True, help="the site id of the topic tree (medbot/v1/<site>/...)")
@click.option("--store", "store_url", default=None,
              help="sqlite:///path/fleet.db, a file path, or postgresql://user@host/db "
                   "[default: sqlite medbot-fleet-<site>.db in the working directory]")
@click.option("--map", "map_path", required=True, type=_EXISTING_FILE,
              help="the site map with its route graph (`python -m sim.world_export > map.json`)")
@click.option("--config", "config_path", type=_EXISTING_FILE, default=None,
              help="fleet YAML: step/allocation periods, battery thresholds, restricted zones, the "
                   "service account, `demand:` sources [default: built-in defaults, no demand sources]")
@click.option("--http", "http_bind", default=None, metavar="HOST:PORT",
              help="serve the HTTP API here (port 0: a free port, printed at start)")
@click.option("--users", "users_path", type=_EXISTING_FILE, default=None,
              help="the dashboard's users file (YAML/JSON {staff-id: {roles, token_sha256 | password_hash}}) "
                   "for the API [default with --http: one-time demo tokens, printed at start]")
@click.option("--time-scale", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              envvar="MEDBOT_TIME_SCALE", help="run the clock this many times faster than wall time (tests, demos)")
@click.option("--time-origin", type=float, default=None, envvar="MEDBOT_TIME_ORIGIN",
              help="epoch seconds the scaled clock runs from; give every process of a scaled run the same "
                   "[default: now]")
@click.option("--client-id", default=None,
              help="MQTT client id: the broker keeps its session [default: medbot-fleet-<site>]")
@click.option("--mqtt-version", type=click.Choice(["5", "3.1.1"]), default="5", show_default=True,
              help="3.1.1 for brokers without MQTT 5 (the simulator's embedded amqtt)")
@click.option("--username", default=None)
@click.option("--password", default=None, envvar="MEDBOT_FLEET_PASSWORD", help="or MEDBOT_FLEET_PASSWORD")
@click.option("--ca-file", type=_EXISTING_FILE, default=None, help="mqtts: the site CA")
@click.option("--cert-file", type=_EXISTING_FILE, default=None, help="mqtts: client certificate")
@click.option("--key-file", type=_EXISTING_FILE, default=None, help="mqtts: its key")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
@click.option("--vda5050", "vda5050_path", type=_EXISTING_FILE, default=None,
              help="VDA 5050 vehicles beside the robots (YAML, docs/vda5050.md)")
def run(broker: str, site: str, store_url: str | None, map_path: Path, config_path: Path | None,
        http_bind: str | None, users_path: Path | None, time_scale: float, time_origin: float | None,
        client_id: str | None, mqtt_version: str, username: str | None, password: str | None,
        ca_file: Path | None, cert_file: Path | None, key_file: Path | None, log_level: str,
        vda5050_path: Path | None) -> None:
    """Run the fleet service until SIGTERM / Ctrl-C.

    It reads every robot of SITE through the contract (factsheet, connection, state, events,
    clinical, alerts, commands/ack) and task requests on medbot/v1/<site>/fleet/tasks/request,
    commands robots as the config's service account (each robot's command policy must grant it the
    operator role), and publishes task states on .../fleet/tasks, alerts on .../fleet/alerts and its
    own status on .../fleet/connection. Tasks live in the store: a restart, even after kill -9,
    loses none and dispatches none twice. See docs/fleet-service.md.
    """
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        check_segment(site, "site")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--site") from None
    bind = _http_bind(http_bind)
    try:
        config = load_fleet_config(config_path) if config_path is not None else FleetConfig()
        site_map = load_site(map_path)
        accounts = load_users(users_path) if users_path is not None else None
    except (FleetConfigError, SiteError, UsersFileError) as exc:
        raise click.ClickException(str(exc)) from None
    tokens: dict[str, str] = {}
    if bind is not None and accounts is None:
        accounts, tokens = _demo_accounts()
    tls = TlsConfig(ca_file, cert_file, key_file) if broker.startswith("mqtts://") else None
    try:
        clock = ScaledClock(time_scale, time_origin)
        link_options: dict[str, Any] = {"client_id": client_id, "username": username, "password": password, "tls": tls,
                                        "mqtt5": mqtt_version == "5"}
        if vda5050_path is not None:  # VDA 5050 vehicles too: only then is fleet.vda5050 imported
            from fleet.vda5050.adapter import MixedFleetLink, load_vda5050_settings

            link: FleetLink = MixedFleetLink(broker, site, load_vda5050_settings(vda5050_path), site_map,
                                             clock_s=clock.now_s, **link_options)
        else:
            link = FleetLink(broker, site, clock_s=clock.now_s, **link_options)
        store = store_url or f"sqlite:///{Path.cwd() / f'medbot-fleet-{site}.db'}"
        runtime = FleetRuntime(config, site_map, store, link, clock, site,
                               http=HttpSettings(bind[0], bind[1], accounts or {}) if bind is not None else None)
    except (ValueError, DemandError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        runtime.start()
    except (TimeoutError, ConnectionError, OSError, RuntimeError) as exc:
        runtime.close()
        raise click.ClickException(str(exc)) from None

    def on_signal(signum: int, frame: FrameType | None) -> None:
        runtime.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    scale = f", clock x{time_scale:g}" if time_scale != 1.0 else ""
    click.echo(f"medbot fleet: site {site}, {len(site_map.places)} places, store {runtime.service.store.dialect}, "
               f"broker {link.address.url} as {link.client_id}{scale}", err=True)
    if runtime.http_url is not None:
        click.echo(f"medbot fleet: API {runtime.http_url}/api", err=True)
        for user, token in sorted(tokens.items()):
            click.echo(f"medbot fleet: demo account {user}: Authorization: Bearer {token}", err=True)
    runtime.run()
    click.echo(f"medbot fleet: stopped after {runtime.steps} steps", err=True)


@fleet_command.command("new-token")
@click.option("--user", required=True, help="the staff id the token is for")
@click.option("--role", "roles", multiple=True, type=click.Choice(["operator", "clinical", "viewer"]),
              default=("viewer",), show_default=True)
def new_token_command(user: str, roles: tuple[str, ...]) -> None:
    """Make an API access token: prints the token (give it to the user) and the users-file entry."""
    token, digest = new_token()
    click.echo(f"token: {token}")
    click.echo(f"{user}:\n  roles: [{', '.join(roles)}]\n  token_sha256: {digest}")


def _demo_accounts() -> tuple[dict[str, ApiAccount], dict[str, str]]:
    """For trying the API without a users file: fresh random tokens, never a fixed password."""
    operator, viewer = new_token()[0], new_token()[0]
    tokens = {"op-demo": operator, "vw-demo": viewer}
    accounts = {
        "op-demo": ApiAccount("op-demo", frozenset({"operator"}), hash_token(operator)),
        "vw-demo": ApiAccount("vw-demo", frozenset({"viewer"}), hash_token(viewer)),
    }
    return accounts, tokens
