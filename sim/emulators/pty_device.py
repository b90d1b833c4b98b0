"""A pseudo-terminal standing in for a serial cable: the emulator serves the master side, the
driver opens the slave by path, exactly as it would open `/dev/ttyUSB0` on a robot.

Both ends are raw (`tty.setraw`): no echo, no line discipline, so every byte crosses unchanged.
The driver is given a stable symlink (like `/dev/serial/by-id/...`), so `unplug()` + `replug()`
can model a USB adapter that disappears and comes back under the same name.

Bytes written to one side of a pty reach the other through the kernel's flip-buffer work queue,
a few microseconds later. Determinism therefore needs a barrier, not luck: `read(expect_bytes=n)`
waits (bounded, wall time) until n bytes have arrived, and the bench's pump tells each side how
many bytes the other wrote.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import shutil
import tempfile
import time
import tty
from pathlib import Path

#: bytes held for a reader that does not read (beyond this the oldest are lost, as in a UART FIFO)
MAX_PENDING_BYTES = 4096
#: how long a barrier waits for bytes already written by the other side (wall time, bounded)
SETTLE_TIMEOUT_S = 0.2


class PtyDevice:
    """The emulator's end of one pseudo-terminal pair."""

    def __init__(self, name: str = "device") -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="medbot-pty-"))
        self.port_path = str(self._dir / name)  # stable symlink the driver opens
        self._master: int | None = None
        self._slave: int | None = None
        self._pending_out = b""
        self.replug()

    @property
    def connected(self) -> bool:
        return self._master is not None

    @property
    def slave_path(self) -> str:
        return os.readlink(self.port_path)

    def replug(self) -> None:
        """(Re)create the pty and point the stable path at its slave."""
        if self._master is not None:
            return
        master, slave = os.openpty()
        tty.setraw(master)
        tty.setraw(slave)  # no echo: without this the driver's bytes would bounce back to it
        os.set_blocking(master, False)
        self._master, self._slave = master, slave  # our slave fd keeps the pty alive until opened
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.port_path)
        os.symlink(os.ttyname(slave), self.port_path)

    def unplug(self) -> None:
        """The cable is pulled: the driver's reads fail (EIO) and the path disappears."""
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        self._pending_out = b""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.port_path)

    def close(self) -> None:
        self.unplug()
        shutil.rmtree(self._dir, ignore_errors=True)

    def read(self, expect_bytes: int = 0, timeout_s: float = SETTLE_TIMEOUT_S) -> bytes:
        """Everything available now; when `expect_bytes` > 0, wait (bounded) until that many
        have arrived."""
        if self._master is None:
            return b""
        data = bytearray()
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                chunk = os.read(self._master, 4096)
            except BlockingIOError:
                chunk = b""
            except OSError as exc:  # EIO: the driver has not opened (or closed) the slave
                if exc.errno != errno.EIO:
                    raise
                chunk = b""
            data += chunk
            if chunk:
                continue
            remaining_s = deadline - time.monotonic()
            if len(data) >= expect_bytes or remaining_s <= 0:
                return bytes(data)
            select.select([self._master], [], [], min(remaining_s, 0.01))

    def write(self, data: bytes) -> int:
        """Queue and write without blocking; what the kernel refuses now goes out on the next call.
        Returns the number of bytes actually handed to the kernel."""
        if self._master is None:
            return 0
        self._pending_out = (self._pending_out + data)[-MAX_PENDING_BYTES:]
        written = 0
        while self._pending_out:
            try:
                n = os.write(self._master, self._pending_out)
            except BlockingIOError:
                break
            except OSError:
                self._pending_out = b""
                break
            written += n
            self._pending_out = self._pending_out[n:]
        return written
