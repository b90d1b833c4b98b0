"""A robot's retained factsheet survives a broker that restarts without persistence: the robot
sends it again on reconnect, so a dashboard that connects afterwards still learns its kind."""

from __future__ import annotations

import time
from typing import Any

import pytest

from telemetry.examples import example_body
from telemetry.publisher import TelemetryPublisher
from telemetry.subscriber import TelemetrySubscriber
from telemetry.topics import Channel


@pytest.mark.integration
def test_factsheet_is_republished_after_a_broker_restart(broker_factory: Any) -> None:
    broker = broker_factory(lambda port, wd: f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    pub = TelemetryPublisher(broker.url, "general-hospital", "nurse-a", reconnect_min_delay_s=1,
                             reconnect_max_delay_s=1)
    pub.connect()
    try:
        factsheet = example_body(Channel.FACTSHEET)
        pub.publish(Channel.FACTSHEET, factsheet, 1767571200.0)
        time.sleep(0.3)
        broker.stop()
        broker.start()  # all retained messages are gone
        deadline = time.monotonic() + 15
        while not pub.connected or pub.stats.connects < 2:
            assert time.monotonic() < deadline, "the robot did not reconnect"
            time.sleep(0.1)
        with TelemetrySubscriber(broker.url, "medbot/v1/general-hospital/nurse-a/factsheet") as late:
            got = late.wait_for(lambda ms: any(m.channel == Channel.FACTSHEET for m in ms), timeout_s=10)
        assert got[0].retained and got[0].body == factsheet
    finally:
        pub.close()
