"""``medbot vda5050-bridge``: make one medbot robot a VDA 5050 vehicle until SIGTERM / Ctrl-C.

    medbot vda5050-bridge --broker mqtt://127.0.0.1:1883 --site demo --robot logistics-1 \
        --manufacturer medbot --serial logistics-1 --map map.json

The robot's command policy must grant the bridge's account (``--user``, default ``vda5050-bridge``)
the operator role for this robot (`medbot robot run --operators policy.json`)."""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path
from types import FrameType

import click

from robots.vda5050_bridge.core import BridgeCore, places_from_map
from robots.vda5050_bridge.link import Vda5050Bridge
from telemetry.vda5050 import Vda5050Error, VehicleId


@click.command("vda5050-bridge")
@click.option("--broker", required=True, help="the robot's broker: mqtt://host:port")
@click.option("--vda-broker", default=None, help="the VDA 5050 broker [default: --broker]")
@click.option("--site", required=True, help="the robot's site (medbot/v1/<site>/...)")
@click.option("--robot", "robot_id", required=True, help="the robot id")
@click.option("--manufacturer", default="medbot", show_default=True, help="VDA 5050 manufacturer (topic level)")
@click.option("--serial", "serial_number", default=None, help="VDA 5050 serialNumber [default: the robot id]")
@click.option("--map", "map_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the site map (medbot.map/1): node ids are its place names")
@click.option("--interface", default="uagv", show_default=True)
@click.option("--user", default="vda5050-bridge", show_default=True, help="the account the bridge commands as")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info")
def bridge_command(broker: str, vda_broker: str | None, site: str, robot_id: str, manufacturer: str,
                   serial_number: str | None, map_path: Path, interface: str, user: str, log_level: str) -> None:
    """Make one medbot robot a VDA 5050 vehicle."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        vehicle = VehicleId(manufacturer, serial_number or robot_id)
        places = places_from_map(json.loads(map_path.read_text(encoding="utf-8")))
    except (Vda5050Error, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise click.ClickException(f"{map_path}: {exc}") from None
    bridge = Vda5050Bridge(BridgeCore(vehicle, site, robot_id, places, user=user), broker, vda_broker_url=vda_broker,
                           interface=interface)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    bridge.start()
    click.echo(f"medbot vda5050-bridge: {robot_id} is VDA 5050 vehicle {vehicle} on {interface}/v2", err=True)
    stop.wait()
    bridge.stop()
