"""``medbot his``: the HIS link as a service (registered through the ``medbot.commands`` entry
point, so `robots/` never imports it)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import click

from his.census import rows_by_key
from his.config import HisConfigError, load_config, new_key_hex, read_key
from his.link import HisLink
from his.mllp import MllpClient, MllpServer
from his.outbox import Backoff, ResultSender
from his.pseudonym import Pseudonymizer, key_id
from his.results import ResultIntake
from his.service import HisService
from his.store import Store, StoreError
from telemetry.tls import TlsConfig
from telemetry.topics import check_segment

_EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def host_port(value: str, option: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise click.BadParameter(f"{value!r}: expected HOST:PORT, e.g. 0.0.0.0:2575 (port 0: any free one)",
                                 param_hint=option)
    return host.strip("[]") or "0.0.0.0", int(port)


@click.group("his")
def his_command() -> None:
    """The HIS link: HL7 v2 over MLLP between the hospital's systems and the fleet (docs/his.md)."""


@his_command.command("run")
@click.option("--listen", default="127.0.0.1:2575", show_default=True, metavar="HOST:PORT",
              help="the MLLP listen address: where the hospital's integration engine sends ADT (A01 A02 A03 "
                   "A04 A08 A11 A12 A13) and specimen orders (OML^O21, ORM^O01); every message is ACKed "
                   "(AA, or AE/AR with an ERR segment and the reason)")
@click.option("--record-system", default=None, metavar="HOST:PORT",
              help="the record system's MLLP listener: each vital-signs set and lab result the robots publish on "
                   "medbot/v1/<site>/+/clinical goes there as one ORU^R01, from a durable outbox, in order; AA "
                   "closes it, AE/AR are logged and alerted and not resent, a broken link is retried with back-off "
                   "(docs/his.md). Without it, no results go out")
@click.option("--broker", required=True, help="the site's MQTT broker: mqtt://host:port or mqtts://host:port")
@click.option("--site", required=True, help="the site id of the topic tree (medbot/v1/<site>/...)")
@click.option("--key-file", type=_EXISTING_FILE, required=True, envvar="MEDBOT_HIS_KEY_FILE",
              help="the pseudonymisation key (hex, `medbot his new-key`): patient refs are HMAC-SHA256 of the "
                   "hospital's identifier under it [or MEDBOT_HIS_KEY_FILE]")
@click.option("--previous-key-file", "previous_key_files", type=_EXISTING_FILE, multiple=True,
              help="a key rotated out (repeatable): patients admitted under it are still found, and keep their "
                   "ref until discharge")
@click.option("--store", "store_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="the census and order database (SQLite) [default: medbot-his-<site>.db here]")
@click.option("--config", "config_path", type=_EXISTING_FILE, default=None,
              help="YAML: our MSH-3/MSH-4, accepted versions and processing ids, the PID-3 identifier type, "
                   "ward -> nurse station for pick-ups (docs/his.md)")
@click.option("--idle-timeout", "idle_timeout_s", type=click.FloatRange(min=1, max=86400), default=300.0,
              show_default=True, help="close an MLLP connection idle this many seconds")
@click.option("--max-connections", type=click.IntRange(min=1, max=1024), default=32, show_default=True)
@click.option("--client-id", default=None, help="MQTT client id [default: medbot-his-<site>]")
@click.option("--mqtt-version", type=click.Choice(["5", "3.1.1"]), default="5", show_default=True)
@click.option("--username", default=None)
@click.option("--password", default=None, envvar="MEDBOT_HIS_PASSWORD", help="or MEDBOT_HIS_PASSWORD")
@click.option("--ca-file", type=_EXISTING_FILE, default=None, help="mqtts: the site CA")
@click.option("--cert-file", type=_EXISTING_FILE, default=None, help="mqtts: client certificate")
@click.option("--cert-key-file", type=_EXISTING_FILE, default=None, help="mqtts: the client certificate's key")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
def run(listen: str, record_system: str | None, broker: str, site: str, key_file: Path,
        previous_key_files: tuple[Path, ...], store_path: Path | None, config_path: Path | None,
        idle_timeout_s: float, max_connections: int,
        client_id: str | None, mqtt_version: str, username: str | None, password: str | None,
        ca_file: Path | None, cert_file: Path | None, cert_key_file: Path | None, log_level: str) -> None:
    """Run the HIS link until SIGTERM / Ctrl-C.

    ADT keeps the census (bed <-> patient) in the store and publishes it, as pseudonymous pt- refs
    only, retained on medbot/v1/<site>/his/census. Specimen collection orders become sample_pickup
    task requests on .../fleet/tasks/request; ORC-1 CA withdraws a pick-up not yet started. With
    --record-system, the robots' results go out as ORU^R01 (PID-3 from the census). The hospital's
    identifiers never leave this service but in those ORUs.
    """
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        check_segment(site, "site")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--site") from None
    host, port = host_port(listen, "--listen")
    target = host_port(record_system, "--record-system") if record_system is not None else None
    try:
        config = load_config(config_path)
        pseudonyms = Pseudonymizer(read_key(key_file), [read_key(p) for p in previous_key_files])
        store = Store(store_path or Path.cwd() / f"medbot-his-{site}.db")
    except (HisConfigError, StoreError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    tls = TlsConfig(ca_file, cert_file, cert_key_file) if broker.startswith("mqtts://") else None
    results = config.results
    link = HisLink(broker, site, client_id=client_id, username=username, password=password, tls=tls,
                   mqtt5=mqtt_version == "5", session_expiry_s=results.session_expiry_s if target else 0)
    service = HisService(store, pseudonyms, config.policy(), link, settings=config.settings())
    server = MllpServer(service.handle, host, port, idle_timeout_s=idle_timeout_s, max_connections=max_connections)
    sender: ResultSender | None = None
    intake: ResultIntake | None = None
    if target is not None:
        client = MllpClient(*target, connect_timeout_s=results.connect_timeout_s,
                            reply_timeout_s=results.reply_timeout_s)
        sender = ResultSender(store, service.sealer, client, alert=link.alert,
                              backoff=Backoff(results.backoff_base_s, results.backoff_cap_s,
                                              seed=int(pseudonyms.key_id, 16)),
                              alert_after_failures=results.alert_after_failures)
        intake = ResultIntake(store, service.sealer, site, config.oru_settings(), alert=link.alert,
                              on_queued=sender.notify)
        sender.start()
    try:
        link.start(service.on_task, intake.on_clinical if intake is not None else None)
    except TimeoutError as exc:  # paho keeps trying; ADT is still taken and the census sent on connect
        click.echo(f"medbot his: {exc}; carrying on, the link reconnects in the background", err=True)
    try:
        server.start()
    except (OSError, TimeoutError) as exc:
        link.close()
        raise click.ClickException(str(exc)) from None
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    census = service.publish_census()
    results_to = f"results to {target[0]}:{target[1]}" if target is not None else "no results out"
    click.echo(f"medbot his: MLLP on {server.host}:{server.port}, site {site}, {len(census['beds'])} beds occupied, "
               f"key {pseudonyms.key_id}, broker {link.address.url} as {link.client_id}, {results_to}", err=True)
    while not stop.wait(1.0):
        service.tick()
    server.stop()
    link.close()
    if sender is not None:
        sender.stop()
    store.close()
    counts = {**service.counts, **(intake.counts if intake else {}), **(sender.counts if sender else {})}
    click.echo(f"medbot his: stopped; {counts}", err=True)


@his_command.command("new-key")
def new_key_command() -> None:
    """Print a fresh pseudonymisation key (64 hex digits): save it to a file readable only by the
    service (chmod 600), and never commit it."""
    click.echo(new_key_hex())


@his_command.command("keys")
@click.option("--store", "store_path", type=_EXISTING_FILE, required=True)
@click.option("--key-file", type=_EXISTING_FILE, multiple=True, help="name these keys' ids (repeatable)")
def keys_command(store_path: Path, key_file: tuple[Path, ...]) -> None:
    """How many patients the store holds under each key id: a rotated-out key may be dropped from
    --previous-key-file once it holds none."""
    names = {}
    try:
        names = {key_id(read_key(p)): str(p) for p in key_file}
        store = Store(store_path)
    except (HisConfigError, StoreError) as exc:
        raise click.ClickException(str(exc)) from None
    with store.reading() as c:
        usage = rows_by_key(c)
    store.close()
    for kid, count in sorted(usage.items()):
        click.echo(f"{kid}\t{count}\t{names.get(kid, '')}")
