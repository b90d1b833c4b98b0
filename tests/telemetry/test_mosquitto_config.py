"""The generated broker config keeps sessions on disk when given a place for them."""

from __future__ import annotations

from pathlib import Path

from telemetry.mosquitto_config import BrokerPlan, acl_text, config_text


def _plan(**kwargs: object) -> BrokerPlan:
    pki = Path("/etc/medbot/pki")
    return BrokerPlan(site="general-hospital", ca_file=pki / "ca.crt", cert_file=pki / "broker.crt",
                      key_file=pki / "broker.key", acl_file=Path("/etc/medbot/acl"),
                      password_file=Path("/etc/medbot/passwd"), **kwargs)  # type: ignore[arg-type]


def test_a_persistence_dir_keeps_sessions_and_saves_them_every_few_seconds() -> None:
    lines = config_text(_plan(persistence_dir=Path("/var/lib/medbot-broker"))).splitlines()
    assert "persistence true" in lines and "persistence_location /var/lib/medbot-broker/" in lines
    assert "autosave_interval 5" in lines  # Mosquitto's own default is 30 min of changes at risk


def test_without_a_persistence_dir_nothing_is_kept() -> None:
    lines = config_text(_plan()).splitlines()
    assert "persistence false" in lines and not any(line.startswith("autosave") for line in lines)


def test_the_fleet_service_commands_and_reads_every_robot_and_operators_may_request_work() -> None:
    acl = acl_text(_plan(operators=("op-0001",), viewers=("vw-0001",)), robot_ids=("nurse-a",))
    blocks = {b.splitlines()[0]: b.splitlines()[1:] for b in acl.split("\n\n") if b.startswith("user ")}
    base = "medbot/v1/general-hospital"
    fleet = blocks["user fleet-service"]
    assert f"topic write {base}/+/commands" in fleet and f"topic read {base}/#" in fleet
    assert f"topic write {base}/fleet/tasks" in fleet and f"topic write {base}/fleet/alerts" in fleet
    assert f"topic write {base}/fleet/tasks/request" in blocks["user op-0001"]
    assert not any("tasks/request" in line and "write" in line for line in blocks["user vw-0001"])
    # a robot never writes the fleet's topics, under its own id or any other
    patterns = [line for line in acl.splitlines() if line.startswith("pattern write")]
    assert patterns and not any(line.endswith(("/tasks", "/tasks/request")) for line in patterns)
