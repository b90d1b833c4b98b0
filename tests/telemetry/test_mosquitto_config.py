"""The generated broker config keeps sessions on disk when given a place for them."""

from __future__ import annotations

from pathlib import Path

from telemetry.mosquitto_config import BrokerPlan, config_text


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
