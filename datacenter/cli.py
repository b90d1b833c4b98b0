"""``medbot datacenter``: run ingest workers, export FHIR bundles, report fleet KPIs."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import click

from datacenter.export import export_patient_bundle
from datacenter.ingest import Ingestor
from datacenter.kpi import fleet_kpis, group_kpis, render_group_report, render_report
from datacenter.store import Store, iso_to_ms
from telemetry.tls import TlsConfig

DEFAULT_STORE = "sqlite:///medbot-datacenter.db"


@click.group("datacenter")
def datacenter_command() -> None:
    """The health data center: ingest telemetry, export FHIR, fleet KPIs."""


@datacenter_command.command("run")
@click.option("--broker", required=True, help="mqtt://host:port or mqtts://host:port")
@click.option("--store", "store_url", default=DEFAULT_STORE, show_default=True,
              help="sqlite:///path or postgresql://user@host:port/db")
@click.option("--group", default="datacenter", show_default=True, help="shared-subscription group")
@click.option("--client-id", default=None, help="stable per worker, so a restart resumes its session")
@click.option("--username", default=None)
@click.option("--password", default=None, envvar="MEDBOT_DC_PASSWORD")
@click.option("--ca-file", type=click.Path(path_type=Path), default=None)
@click.option("--cert-file", type=click.Path(path_type=Path), default=None)
@click.option("--key-file", type=click.Path(path_type=Path), default=None)
def run(broker: str, store_url: str, group: str, client_id: str | None, username: str | None,
        password: str | None, ca_file: Path | None, cert_file: Path | None, key_file: Path | None) -> None:
    """Ingest until interrupted (Ctrl-C / SIGTERM), then flush and acknowledge."""
    tls = TlsConfig(ca_file, cert_file, key_file) if broker.startswith("mqtts://") else None
    store = Store(store_url)
    ingest = Ingestor(broker, store, group=group, client_id=client_id, username=username, password=password,
                      tls=tls)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    ingest.start()
    click.echo(f"ingesting {ingest.subscription} from {broker} into {store.dialect} as {ingest.client_id}")
    try:
        while not done.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        ingest.stop()
        store.close()
    s = ingest.stats
    click.echo(f"received {s.received}, stored {s.stored}, duplicates {s.duplicates}, rejected {s.rejected}")


@datacenter_command.command("ingest")
@click.option("--broker", required=True, help="the (group) broker: mqtt://host:port or mqtts://host:port")
@click.option("--store", "store_url", required=True,
              help="postgresql://user@host:port/db (every worker writes to it; sqlite:///path for one worker)")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
              help="worker processes sharing one MQTT 5 shared subscription")
@click.option("--group", default="datacenter", show_default=True, help="shared-subscription group ($share/<group>/…)")
@click.option("--client-id-prefix", default=None,
              help="workers are <prefix>-1 … <prefix>-N; keep it stable so a restart resumes their sessions "
                   "[default: dc-<group>]")
@click.option("--username", default=None, help="the data center's account on the broker")
@click.option("--password", default=None, envvar="MEDBOT_DC_PASSWORD", help="or MEDBOT_DC_PASSWORD")
@click.option("--ca-file", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="the CA of the broker's certificate (mqtts://)")
@click.option("--cert-file", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None)
@click.option("--key-file", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None)
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True,
              help="messages per transaction")
def ingest_command(broker: str, store_url: str, workers: int, group: str, client_id_prefix: str | None,
                   username: str | None, password: str | None, ca_file: Path | None, cert_file: Path | None,
                   key_file: Path | None, batch_size: int) -> None:
    """Ingest with N worker processes until interrupted (Ctrl-C / SIGTERM), then flush and acknowledge.

    Each worker is a process with its own broker session and database connection; the broker splits
    the messages between them. A worker that dies is restarted under its client id and stores what
    the broker kept for it; a message stored twice is one row. Keep --workers and the prefix the same from
    run to run: the broker queues a stopped worker's share in its session until it returns.
    Example, a group data center:

    \b
      medbot datacenter ingest --broker mqtts://group-broker:8883 --ca-file ca.crt
        --username datacenter --store postgresql://dc@db:5432/medbot --workers 4
    """
    if workers > 1 and not store_url.startswith(("postgresql://", "postgres://")):
        raise click.BadParameter("several workers need a database server (postgresql://…); "
                                 "SQLite takes one writer at a time", param_hint="--store")
    if not broker.startswith("mqtts://") and any((ca_file, cert_file, key_file)):
        raise click.BadParameter("TLS files given for a plain mqtt:// broker; use mqtts://", param_hint="--broker")
    from datacenter.workers import WorkerPool, worker_specs

    Store(store_url).close()  # create the tables once, before N workers race to
    specs = worker_specs(workers, broker, store_url, client_id_prefix=client_id_prefix or f"dc-{group}",
                         group=group, username=username, password=password, ca_file=ca_file, cert_file=cert_file,
                         key_file=key_file, batch_size=batch_size)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    pool = WorkerPool(specs).start()
    click.echo(f"ingesting $share/{group}/medbot/v1/# from {broker} with {workers} workers "
               f"({', '.join(s.client_id for s in specs)})")
    try:
        pool.run_until(done.is_set)
    finally:
        stats = pool.stop()
    total = {k: sum(s[k] for s in stats.values()) for k in ("received", "stored", "duplicates", "rejected")}
    click.echo(f"received {total['received']}, stored {total['stored']}, duplicates {total['duplicates']}, "
               f"rejected {total['rejected']}; workers restarted {pool.restarts} times")


@datacenter_command.command("fhir-export")
@click.option("--store", "store_url", default=DEFAULT_STORE, show_default=True)
@click.option("--patient", "patients", multiple=True, help="pt-... (default: every patient in the store)")
@click.option("--since", default=None, help="ISO 8601 UTC, inclusive")
@click.option("--until", default=None, help="ISO 8601 UTC, exclusive")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True)
def fhir_export(store_url: str, patients: tuple[str, ...], since: str | None, until: str | None,
                out_dir: Path) -> None:
    """Write one validated FHIR R4 Bundle per patient (``<out>/<patient_ref>.json``)."""
    store = Store(store_url)
    out_dir.mkdir(parents=True, exist_ok=True)
    since_ms = iso_to_ms(since) if since else None
    until_ms = iso_to_ms(until) if until else None
    for patient in patients or tuple(store.patient_refs()):
        result = export_patient_bundle(store, patient, since_ms=since_ms, until_ms=until_ms)
        (out_dir / f"{patient}.json").write_text(json.dumps(result.bundle, indent=1) + "\n", encoding="utf-8")
        click.echo(f"{patient}: {result.records} records -> {result.resources} resources"
                   + (f"; skipped: {'; '.join(result.skipped)}" if result.skipped else ""))
    store.close()


@datacenter_command.command("kpi")
@click.option("--store", "store_url", default=DEFAULT_STORE, show_default=True)
@click.option("--site", default=None, help="one site's KPIs (default: every site stored, pooled)")
@click.option("--by-site", is_flag=True, help="a hospital group: a line per site and the group's roll-up")
@click.option("--json", "as_json", is_flag=True, help="JSON for the dashboard instead of the text report")
def kpi(store_url: str, site: str | None, by_site: bool, as_json: bool) -> None:
    """Fleet KPIs from the store."""
    if by_site and site is not None:
        raise click.BadParameter("--by-site lists every site; leave out --site", param_hint="--by-site")
    store = Store(store_url)
    try:
        if by_site:
            group = group_kpis(store)
            click.echo(json.dumps(group, indent=2, sort_keys=True) if as_json else render_group_report(group))
            return
        kpis = fleet_kpis(store, site=site)
    finally:
        store.close()
    click.echo(json.dumps(kpis, indent=2, sort_keys=True) if as_json else render_report(kpis))
