"""Test helpers: a scripted device on the far side of a real pseudo-terminal."""

from __future__ import annotations

from collections.abc import Callable

from hal.clock import SimClock
from hal.drivers.astm.link import Link
from hal.drivers.serial_port import SerialPort
from sim.emulators.pty_device import PtyDevice

Responder = Callable[[bytes], bytes]


class ScriptedPeer:
    """Answers whatever the driver wrote with `respond(bytes) -> bytes` (the pump protocol)."""

    def __init__(self, respond: Responder | None = None) -> None:
        self.pty = PtyDevice("peer")
        self.respond: Responder = respond or (lambda data: b"")
        self.received = bytearray()
        self.outbox = bytearray()

    def service(self, host_wrote: int) -> int:
        data = self.pty.read(expect_bytes=host_wrote)
        self.received += data
        out = bytes(self.outbox) + self.respond(data)
        self.outbox.clear()
        return self.pty.write(out) if out else 0

    def close(self) -> None:
        self.pty.close()


class LinkOverPty:
    """A host `Link` on a `SerialPort` opened on the peer's pty path, serviced like the driver."""

    def __init__(self, peer: ScriptedPeer, clock: SimClock, **link_kwargs: float) -> None:
        self.clock = clock
        self.port = SerialPort("astm", peer.pty.port_path, clock, pump=peer.service)
        self.port.open()
        self.link = Link(clock.now_s, **link_kwargs)  # type: ignore[arg-type]
        self.events: list[object] = []

    def step(self, dt_s: float = 0.0) -> None:
        if dt_s:
            self.clock.advance(dt_s)
        self.link.feed(self.port.read_available())
        self.link.poll()
        self.port.write(self.link.take_output())
        self.events += self.link.take_events()

    def close(self) -> None:
        self.port.close()
