"""The data center of the latency benchmark, in its own process: an Ingestor into SQLite that notes
when each message reached it (``topic seq monotonic_s`` per line) until SIGTERM."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from datacenter.ingest import Ingestor
from datacenter.store import Store


def main(url: str, folder: str, out_path: str, ready_path: str) -> None:
    store = Store(f"sqlite:///{folder}/dc.db")
    ingest = Ingestor(url, store, client_id="bench-dc")
    original = ingest._on_message
    lines: list[str] = []

    def timed(client: Any, userdata: Any, message: Any) -> None:
        now = time.perf_counter()  # CLOCK_MONOTONIC: comparable with the publishing process
        payload = bytes(message.payload)
        at = payload.find(b'"seq":')
        lines.append(f"{message.topic} {int(payload[at + 6:payload.find(b',', at)])} {now:.6f}")
        original(client, userdata, message)

    ingest._client.on_message = timed
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    ingest.start()
    Path(ready_path).touch()
    stop.wait()
    ingest.stop()
    store.close()
    Path(out_path).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:5])
