"""`medbot sim`: run a scenario of the simulated hospital and report what happened."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from hal.registry import ConfigError
from sim.runner import SimOptions, SimulationRun
from sim.scenario import Scenario, load_scenario


def _broker(value: str | None) -> str | None:
    if value is None:
        return "embedded"
    if value == "none":
        return None
    if not value.startswith(("mqtt://", "mqtts://")):
        raise click.BadParameter(f"expected mqtt://host:port (or 'none'), got {value!r}", param_hint="--broker")
    return value


def _require_rclpy() -> None:
    import importlib.util

    if importlib.util.find_spec("rclpy") is None:
        raise click.UsageError("--ros needs ROS 2 for Python: pip install -e '.[ros]' (see docs/ros2.md)")


@click.command("sim")
@click.option("--scenario", "scenario_name", default="hospital-day", show_default=True,
              help="Scenario name (see sim/scenarios) or path to a scenario YAML file.")
@click.option("--hours", type=click.FloatRange(min=0.01, max=24 * 7), default=None,
              help="Simulated hours to run (default: the scenario's).")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True,
              help="Seed: the same seed reproduces the run exactly.")
@click.option("--broker", default=None, metavar="URL",
              help="MQTT broker mqtt://host:port; default: an embedded broker; 'none' for no MQTT.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("medbot-report"), show_default=True, help="Folder for summary.json and map.png.")
@click.option("--no-progress", is_flag=True, help="Do not draw the progress bar.")
@click.option("--ros", is_flag=True, help="Publish the fleet on ROS 2 (/clock and each robot's topics); "
                                          "needs `pip install -e .[ros]`.")
@click.option("--dashboard", is_flag=True, help="Serve the operator dashboard live during the run.")
@click.option("--dashboard-port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port of the dashboard (0: any free port).")
@click.option("--realtime-factor", type=click.FloatRange(min=0.0), default=None,
              help="Simulated seconds per wall second, to watch a run live (default: as fast as possible; "
                   "60 with --dashboard).")
def sim_command(scenario_name: str, hours: float | None, seed: int, broker: str | None, report_dir: Path,
                no_progress: bool, ros: bool, dashboard: bool, dashboard_port: int,
                realtime_factor: float | None) -> None:
    """Run a simulated hospital: robots, patients, missions and telemetry, faster than real time."""
    console = Console()
    broker_url = _broker(broker)
    if dashboard and broker_url is None:
        raise click.UsageError("--dashboard needs MQTT: leave out --broker none", ctx=None)
    factor = realtime_factor if realtime_factor is not None else (60.0 if dashboard else 0.0)
    with contextlib.ExitStack() as stack:
        try:
            scenario = load_scenario(scenario_name)
            if ros:
                _require_rclpy()
            mqtt5 = None
            if dashboard:
                embedded = broker_url == "embedded"
                broker_url = _serve_dashboard(stack, console, scenario, broker_url, dashboard_port)
                mqtt5 = False if embedded else None  # the embedded amqtt speaks MQTT 3.1.1 only
            run = SimulationRun(scenario, SimOptions(seed=seed, hours=hours, broker=broker_url,
                                                      report_dir=report_dir, progress=not no_progress, ros=ros,
                                                      realtime_factor=factor, mqtt5=mqtt5))
            started = time.perf_counter()
            summary = run.run()
            wall_s = time.perf_counter() - started
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        _report(console, run, summary, wall_s, report_dir)
        if dashboard and sys.stdin.isatty():
            console.print("The run is over; the dashboard stays up until Ctrl-C.")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(1.0)


def _serve_dashboard(stack: contextlib.ExitStack, console: Console, scenario: Scenario, broker_url: str | None,
                     port: int) -> str:
    """Start the broker first (the dashboard connects before the fleet does), then the dashboard."""
    from dashboard.server import start_in_thread
    from sim.world import load_world
    from sim.world_export import world_json
    from telemetry.broker_process import BrokerProcess

    if broker_url in (None, "embedded"):
        broker = BrokerProcess().start()
        stack.callback(broker.stop)
        broker_url = broker.url
    assert broker_url is not None
    running = start_in_thread(broker_url, world_json(load_world(scenario.world_path())), port=port)
    stack.callback(running.stop)
    console.print(f"[bold]Dashboard[/] {running.url} — sign in:")
    for user, url in sorted(running.login_urls.items()):
        console.print(f"  {user}: {url}")
    return broker_url


def _report(console: Console, run: SimulationRun, summary: dict[str, Any], wall_s: float, report_dir: Path) -> None:
    print_summary(console, summary, wall_s)
    datacenter = run.datacenter_result
    if datacenter is not None:
        if "error" in datacenter:
            console.print(f"[red]data center: {datacenter['error']}[/]")
        else:
            sent = sum(summary["telemetry_messages"].values())
            console.print(f"Data center: stored {datacenter['stored']} messages ({sent} sent by the robots, "
                          f"plus their connection status), {datacenter['rejected']} rejected "
                          f"→ {report_dir / 'datacenter.db'}")
    console.print(f"report: {report_dir / 'summary.json'}, {report_dir / 'map.png'}, {report_dir / 'events.jsonl'}")


def print_summary(console: Console, summary: dict[str, Any], wall_s: float) -> None:
    sim_s = float(summary["hours"]) * 3600.0
    console.print(
        f"[bold]{summary['scenario']}[/] seed {summary['seed']}: {summary['hours']} h simulated "
        f"({summary['sim_start']} → {summary['sim_end']}) in {wall_s:.1f} s wall, "
        f"{sim_s / max(wall_s, 1e-9):.0f}× real time"
    )
    table = Table(title="Robots")
    for column in ("robot", "kind", "missions done", "failed", "cancelled", "distance m", "charge cycles", "battery"):
        table.add_column(column, justify="right" if column not in ("robot", "kind") else "left")
    for robot_id, r in summary["robots"].items():
        table.add_row(robot_id, r["kind"], str(r["missions_done"]), str(r["missions_failed"]),
                      str(r["missions_cancelled"]), f"{r['distance_m']:.0f}", str(r["charge_cycles"]),
                      f"{100 * r['final_soc_fraction']:.0f} %")
    console.print(table)
    patients = summary["patients"]
    console.print(
        f"Patients: {patients['patients_measured']} measured in {patients['beds_measured']}/{patients['beds']} beds, "
        f"{patients['observation_sets']} observation sets, {len(patients['skipped'])} bed visits skipped"
    )
    for skip in patients["skipped"]:
        console.print(f"  skipped {skip['bed_id']} ({skip['robot']}): {skip['reason']}")
    alerts = summary["news2_alerts"]
    console.print("NEWS2 alerts: " + ", ".join(f"{level} {n}" for level, n in alerts.items() if level != "low"))
    det = summary["deteriorating_patients"]
    console.print(
        f"Deteriorating patients: {det['patients']}; {det['became_urgent']} crossed NEWS2 5 during the run, "
        f"{det['urgent_and_alerted']} of them alerted"
    )
    for case in det["cases"]:
        if case["urgent_from_min"] is not None:
            delay = "not alerted" if case["alert_delay_min"] is None else f"alerted {case['alert_delay_min']} min later"
            console.print(f"  bed {case['bed']}: NEWS2 ≥5 from +{case['urgent_from_min']} min, {delay}")
    errors = summary.get("telemetry_contract_errors") or {}
    if errors:
        console.print(f"[red]telemetry contract violations: {errors}[/]")
    for robot_id, r in summary["robots"].items():
        for failure in r["failures"]:
            console.print(f"  [red]failed[/] {failure['mission_id']} ({robot_id}): {failure['reason']}")
