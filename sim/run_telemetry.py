"""A run's telemetry: one sink per robot (and the fleet) — through a gateway process onto the
embedded broker or a given one, or validate-only without MQTT."""

from __future__ import annotations

import json
import logging
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from sim.datacenter_process import DataCenterProcess
from sim.scenario import Scenario
from telemetry.broker_process import BrokerProcess
from telemetry.codec import MessageEncoder
from telemetry.gateway_process import TelemetryGateway
from telemetry.sinks import TelemetrySink
from telemetry.topics import FLEET_ID
from telemetry.validate import PayloadError

log = logging.getLogger(__name__)


class ValidatingSink:
    """No broker: every message is still encoded and validated against its schema, so a run
    without MQTT catches the same contract errors (counted, never raised into a mission)."""

    def __init__(self, site: str, robot_id: str, errors: Counter[str]) -> None:
        self._encoder = MessageEncoder(site, robot_id, validate=True)
        self._robot_id = robot_id
        self._errors = errors

    def publish(self, channel: Any, body: dict[str, Any], stamp_s: float) -> None:
        try:
            self._encoder.encode(channel, body, stamp_s)
        except PayloadError as exc:
            self._errors[f"{self._robot_id}/{channel}"] += 1
            log.error("telemetry contract violation: %s", exc)

    def close(self) -> None:
        pass


class _telemetry:
    """Context: one telemetry sink per robot — through a gateway process onto the embedded broker
    (its own process too) or a given one, or validate-only without MQTT."""

    def __init__(self, broker: str | None, scenario: Scenario, robot_ids: list[str],
                 report_dir: Path | None, mqtt5: bool | None = None) -> None:
        self._broker_arg = broker
        self._mqtt5 = mqtt5
        self._report_dir = report_dir
        self._datacenter: DataCenterProcess | None = None
        self.datacenter_result: dict[str, Any] | None = None
        self._spool_dir: tempfile.TemporaryDirectory[str] | None = None
        self._scenario = scenario
        self._robot_ids = robot_ids
        self._embedded: Any = None
        self.gateway: TelemetryGateway | None = None
        self.errors: Counter[str] = Counter()

    def __enter__(self) -> _telemetry:
        return self

    def sinks(self) -> dict[str, TelemetrySink]:
        if self._broker_arg is None:
            return {rid: ValidatingSink(self._scenario.site, rid, self.errors) for rid in [*self._robot_ids, FLEET_ID]}
        url = self._broker_arg
        embedded = url == "embedded"
        if embedded:
            self._embedded = BrokerProcess().start()
            url = self._embedded.url
        if self._report_dir is not None:
            # the health data center stores everything the fleet sends (amqtt speaks MQTT 3.1.1 only)
            store = self._report_dir / "datacenter.db"
            store.unlink(missing_ok=True)
            mqtt5 = (not embedded) if self._mqtt5 is None else self._mqtt5
            self._datacenter = DataCenterProcess(url, store, mqtt5=mqtt5).start()
        self._spool_dir = tempfile.TemporaryDirectory(prefix="medbot-spool-")
        # the fleet service's task states and alerts go out beside the robots' telemetry
        ids = [*self._robot_ids, FLEET_ID]
        self.gateway = TelemetryGateway(url, self._scenario.site, ids, spool_dir=Path(self._spool_dir.name)).start()
        return {rid: self.gateway.sink(rid) for rid in ids}

    def flush(self) -> None:
        if self.gateway is not None:
            self.gateway.flush()

    def __exit__(self, *exc: object) -> None:
        if self.gateway is not None:
            report = self.gateway.close()
            for key, count in report.errors.items():
                self.errors[key] += count
            for message in report.first_errors:
                log.error("telemetry: %s", message)
        if self._datacenter is not None:
            self.datacenter_result = self._datacenter.stop()
            if self._report_dir is not None:
                (self._report_dir / "datacenter.json").write_text(
                    json.dumps(self.datacenter_result, indent=2, sort_keys=True) + "\n")
        if self._embedded is not None:
            self._embedded.stop()
        if self._spool_dir is not None:
            self._spool_dir.cleanup()
