"""``medbot datacenter``: run ingest workers, export FHIR bundles, report fleet KPIs."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import click

from datacenter.export import export_patient_bundle
from datacenter.ingest import Ingestor
from datacenter.kpi import fleet_kpis, render_report
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
@click.option("--site", default=None)
@click.option("--json", "as_json", is_flag=True, help="JSON for the dashboard instead of the text report")
def kpi(store_url: str, site: str | None, as_json: bool) -> None:
    """Fleet KPIs from the store."""
    store = Store(store_url)
    kpis = fleet_kpis(store, site=site)
    store.close()
    click.echo(json.dumps(kpis, indent=2, sort_keys=True) if as_json else render_report(kpis))
