"""Operator commands reach simulated robots over MQTT (real Mosquitto) and come back as acks;
a viewer's command and a malformed one are refused and change nothing."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml

from sim.runner import SimOptions, SimulationRun
from sim.scenario import SCENARIOS_DIR, load_scenario
from telemetry.commands import CommandEncoder, command_body
from telemetry.subscriber import TelemetrySubscriber
from telemetry.topics import Channel

SITE = "general-hospital"


@pytest.mark.integration
def test_pause_ack_viewer_refused_and_garbage_nacked(tmp_path: Path, mosquitto):
    data = yaml.safe_load((SCENARIOS_DIR / "hospital-day.yaml").read_text())
    data["robots"] = [r for r in data["robots"] if r["id"] == "nurse-a"]
    # nurse-a's ward work only: the fleet's ward sources for ward A and the wards' information systems
    demand = data["fleet"]["demand"]
    data["fleet"]["demand"] = {"ward_chart": {**demand["ward_chart"], "wards": ["ward-a"]},
                               "care_rounds": {**demand["care_rounds"], "wards": ["ward-a"]}}
    data["hospital"] = {"nursing": data["hospital"]["nursing"]}
    data["world"] = str(SCENARIOS_DIR.parent / "worlds" / "default_hospital.yaml")
    data["tick_s"] = 0.2
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    run = SimulationRun(load_scenario(str(path)), SimOptions(hours=1.0, broker=mosquitto.url, progress=False,
                                                             report_dir=tmp_path / "report"))
    done = threading.Event()
    result: dict = {}

    def simulate() -> None:
        try:
            result["summary"] = run.run()
        finally:
            done.set()

    with TelemetrySubscriber(mosquitto.url, f"medbot/v1/{SITE}/nurse-a/#") as sub:
        thread = threading.Thread(target=simulate, daemon=True)
        thread.start()
        sub.wait_for(lambda ms: any(m.channel == Channel.STATE for m in ms), timeout_s=60)
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-console")
        client.connect(mosquitto.host, mosquitto.port)
        client.loop_start()
        encoder = CommandEncoder(SITE, "nurse-a")
        topic = f"medbot/v1/{SITE}/nurse-a/commands"
        for body in (command_body("c-pause-1", "pause", SITE, "nurse-a", user="op-demo"),
                     command_body("c-viewer-1", "pause", SITE, "nurse-a", user="vw-demo", role="viewer")):
            wire = encoder.encode(body, time.time())
            client.publish(wire.topic, wire.payload, qos=1).wait_for_publish(5)
        client.publish(topic, b"{not json", qos=1).wait_for_publish(5)
        # this console's three answers (the fleet's own dispatch acks share the topic: not counted)
        acks = sub.wait_for(lambda ms: len([m for m in ms if m.channel == Channel.COMMANDS_ACK and m.body
                                            and not _fleet_command(m.body["command_id"])]) >= 3, timeout_s=60)
        paused = sub.wait_for(lambda ms: any(m.channel == Channel.STATE and m.body
                                             and m.body["operating_mode"] == "paused" for m in ms), timeout_s=60)
        client.loop_stop()
        client.disconnect()
        assert paused
    # the fleet service's own commands (its dispatches of the ward's rounds) are answered on the
    # same topic: set apart by their ids, they are not this console's
    bodies = [m.body for m in acks if m.channel == Channel.COMMANDS_ACK and m.body
              and not _fleet_command(m.body["command_id"])]
    by_id = {b["command_id"]: b for b in bodies}
    assert by_id["c-pause-1"]["status"] == "ack"
    assert by_id["c-viewer-1"]["status"] == "nack" and "viewer" in by_id["c-viewer-1"]["reason"]
    garbage = [b for b in bodies if b["command_id"] not in ("c-pause-1", "c-viewer-1")]
    assert garbage and all(b["status"] == "nack" for b in garbage)
    done.wait(600)
    audit = [json.loads(line) for line in (tmp_path / "report" / "audit" / "nurse-a.jsonl").read_text().splitlines()]
    console = [a for a in audit if a.get("user") != "fleet-service"]
    assert [a.get("command_id") for a in console if a.get("status") == "ack"] == ["c-pause-1"]
    assert all(_fleet_command(a.get("command_id")) for a in audit if a.get("user") == "fleet-service")


def _fleet_command(command_id: str | None) -> bool:
    """An id the fleet service gives its commands (fleet/service.py): `<mission>.dispatch`,
    `<mission>.cancel`, `fleet-<command>-<n>-<robot>`."""
    return command_id is not None and (command_id.endswith((".dispatch", ".cancel"))
                                       or command_id.startswith("fleet-"))
