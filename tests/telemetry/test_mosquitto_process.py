"""`bench.mosquitto`, the one way benchmarks and fixtures start a broker of their own: a broker
that comes up is waited for and stopped; one that exits at once is reported, not waited on."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import mosquitto

pytestmark = pytest.mark.integration


def _binary() -> str:
    binary = mosquitto.find_mosquitto()
    if binary is None:
        pytest.fail("mosquitto is not installed; `apt-get install -y mosquitto`", pytrace=False)
    return binary


def test_started_broker_listens_until_stopped(tmp_path: Path) -> None:
    port = mosquitto.free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n", encoding="utf-8")
    with (tmp_path / "mosquitto.log").open("wb") as log:
        proc = mosquitto.launch(_binary(), config, log)
    try:
        mosquitto.wait_until_listening(proc, "127.0.0.1", port, timeout_s=10.0, poll_s=0.02)
        assert mosquitto.port_accepts("127.0.0.1", port)
    finally:
        mosquitto.stop(proc)
    assert proc.poll() is not None
    assert not mosquitto.port_accepts("127.0.0.1", port)
    mosquitto.stop(proc)  # stopping a broker that has gone is a no-op


def test_broker_that_exits_is_reported_with_its_exit_code(tmp_path: Path) -> None:
    config = tmp_path / "mosquitto.conf"
    config.write_text("no_such_option true\n", encoding="utf-8")
    proc = mosquitto.launch(_binary(), config)
    try:
        with pytest.raises(mosquitto.MosquittoDidNotStart, match=r"exited with code \d+ before listening"):
            mosquitto.wait_until_listening(proc, "127.0.0.1", mosquitto.free_port(), timeout_s=10.0, poll_s=0.02)
    finally:
        mosquitto.stop(proc)
