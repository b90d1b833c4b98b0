"""MLLP, the Minimal Lower Layer Protocol (HL7 v2 Implementation Guide, appendix C): framing only.

A block is ``<SB> message <EB><CR>`` with SB 0x0B, EB 0x1C and CR 0x0D; the message inside is HL7
ER7 text whose segments end in CR. Nothing here parses HL7: `MllpServer` hands each block's bytes
to a handler and frames the reply (the ACK) it returns.

Guarantees, and why:

* **Ordered, one at a time.** Every block, from every connection, runs through one worker thread:
  the census is a sequence of events, and two senders' messages must not interleave half-way.
  A connection's next block is read only after its ACK was written (the sender waits for it anyway).
* **Every wait bounded.** An idle connection is closed after ``idle_timeout_s``; a block must be
  complete within ``frame_timeout_s`` of its start; a reply must be written within
  ``write_timeout_s``; a handler that takes longer than ``handler_timeout_s`` costs the connection
  (the sender times out and sends again, and the handler's duplicate check answers the repeat).
* **Hostile bytes cost the sender, never the listener.** Bytes outside a block are dropped and
  counted; a block over ``max_message_bytes`` closes that connection; a handler that raises is a
  bug, logged, and the connection is closed without an ACK; at most ``max_connections`` at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

log = logging.getLogger(__name__)

SB = 0x0B
EB = 0x1C
CR = 0x0D
MAX_MESSAGE_BYTES = 1 << 20


class FramingError(ValueError):
    """A block that cannot be taken: too large, or the peer broke the framing beyond repair."""


def frame(message: bytes) -> bytes:
    """``message`` as one MLLP block."""
    if SB in message or EB in message:
        raise FramingError("an HL7 message must not contain the MLLP start (0x0B) or end (0x1C) byte")
    return bytes([SB]) + message + bytes([EB, CR])


class FrameDecoder:
    """Incremental MLLP deframer: ``feed(bytes)`` returns the blocks completed so far.

    Lenient where senders commonly are: an EB not followed by CR still ends the block (the next byte
    is read as outside any block). Strict where it matters: a block over the limit raises."""

    def __init__(self, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.max_message_bytes = max_message_bytes
        self._buf = bytearray()
        self._in_block = False
        self._after_eb = False
        self.junk_bytes = 0  # bytes seen outside any block
        self.broken_blocks = 0  # blocks restarted by a new SB before their end

    @property
    def in_block(self) -> bool:
        """True between a block's SB and its EB (the frame timeout applies, not the idle one)."""
        return self._in_block

    def feed(self, data: bytes) -> list[bytes]:
        done: list[bytes] = []
        i, n = 0, len(data)
        while i < n:
            if self._after_eb:
                self._after_eb = False
                if data[i] == CR:
                    i += 1
                continue
            if not self._in_block:
                start = data.find(SB, i)
                if start < 0:
                    self.junk_bytes += n - i
                    return done
                self.junk_bytes += start - i
                self._in_block = True
                self._buf.clear()
                i = start + 1
                continue
            end = data.find(EB, i)
            restart = data.find(SB, i, end if end >= 0 else n)
            if restart >= 0:  # a new block began before this one ended: this one is lost
                self.broken_blocks += 1
                self._buf.clear()
                i = restart + 1
                continue
            chunk = data[i:] if end < 0 else data[i:end]
            if len(self._buf) + len(chunk) > self.max_message_bytes:
                self._buf.clear()
                self._in_block = False
                raise FramingError(f"MLLP block over {self.max_message_bytes} bytes")
            self._buf += chunk
            if end < 0:
                return done
            done.append(bytes(self._buf))
            self._buf.clear()
            self._in_block = False
            self._after_eb = True
            i = end + 1
        return done


@dataclass
class ServerStats:
    connections: int = 0
    messages: int = 0
    replies: int = 0
    refused_connections: int = 0
    framing_errors: int = 0
    handler_errors: int = 0
    timeouts: int = 0
    junk_bytes: int = 0


#: handler(block bytes) -> reply bytes (an ACK message, unframed); runs on the worker thread
Handler = Callable[[bytes], bytes]


class MllpServer:
    """An MLLP listener on its own asyncio loop in a background thread.

    ``start()`` binds and returns once listening (``port`` is then the bound port, useful with 0);
    ``stop()`` closes the listener and every connection, each step bounded."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 2575, *,
                 idle_timeout_s: float = 300.0, frame_timeout_s: float = 30.0, write_timeout_s: float = 10.0,
                 handler_timeout_s: float = 30.0, max_message_bytes: int = MAX_MESSAGE_BYTES,
                 max_connections: int = 32) -> None:
        for name, value in (("idle_timeout_s", idle_timeout_s), ("frame_timeout_s", frame_timeout_s),
                            ("write_timeout_s", write_timeout_s), ("handler_timeout_s", handler_timeout_s)):
            if not 0 < value < float("inf"):
                raise ValueError(f"{name} must be a positive, finite number of seconds, got {value!r}")
        self.handler = handler
        self.host = host
        self.port = port
        self.idle_timeout_s = idle_timeout_s
        self.frame_timeout_s = frame_timeout_s
        self.write_timeout_s = write_timeout_s
        self.handler_timeout_s = handler_timeout_s
        self.max_message_bytes = max_message_bytes
        self.max_connections = max_connections
        self.stats = ServerStats()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mllp-handler")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping: asyncio.Event | None = None

    # ---- lifecycle ------------------------------------------------------------------------------

    def start(self, timeout_s: float = 10.0) -> None:
        if self._thread is not None:
            raise RuntimeError("MllpServer.start() may be called once")
        self._thread = threading.Thread(target=self._run, name=f"mllp-{self.host}:{self.port}", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise TimeoutError(f"MLLP listener on {self.host}:{self.port} not up within {timeout_s} s")
        if self._error is not None:
            raise OSError(f"MLLP listener on {self.host}:{self.port}: {self._error}") from self._error

    def stop(self, timeout_s: float = 10.0) -> None:
        loop, stopping, thread = self._loop, self._stopping, self._thread
        if loop is not None and stopping is not None and thread is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stopping.set)
            thread.join(timeout_s)
        self._worker.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except OSError as exc:  # could not bind
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=1 << 16,
                                                  reuse_address=True)
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._ready.set()
        log.info("his: MLLP listening on %s:%d", self.host, self.port)
        await self._stopping.wait()
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 2.0)

    # ---- one connection -------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._writers) >= self.max_connections:
            self.stats.refused_connections += 1
            log.warning("his: MLLP connection refused: already %d open", len(self._writers))
            writer.close()
            return
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self.stats.connections += 1
        peer = writer.get_extra_info("peername")
        decoder = FrameDecoder(self.max_message_bytes)
        try:
            await self._read_loop(reader, writer, decoder, peer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            if task is not None:
                self._tasks.discard(task)
            self.stats.junk_bytes += decoder.junk_bytes
            if decoder.junk_bytes:
                log.warning("his: %d bytes outside MLLP blocks from %s dropped", decoder.junk_bytes, peer)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 2.0)

    async def _read_loop(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, decoder: FrameDecoder,
                         peer: object) -> None:
        loop = asyncio.get_running_loop()
        while True:
            timeout_s = self.frame_timeout_s if decoder.in_block else self.idle_timeout_s
            try:
                chunk = await asyncio.wait_for(reader.read(1 << 16), timeout_s)
            except TimeoutError:
                self.stats.timeouts += 1
                what = "a block left incomplete" if decoder.in_block else "idle"
                log.info("his: MLLP connection from %s closed: %s for %.0f s", peer, what, timeout_s)
                return
            if not chunk:
                return
            try:
                blocks = decoder.feed(chunk)
            except FramingError as exc:
                self.stats.framing_errors += 1
                log.warning("his: MLLP connection from %s closed: %s", peer, exc)
                return
            for block in blocks:
                self.stats.messages += 1
                try:
                    reply = await asyncio.wait_for(loop.run_in_executor(self._worker, self.handler, block),
                                                   self.handler_timeout_s)
                except TimeoutError:
                    self.stats.timeouts += 1
                    log.error("his: a message took over %.0f s to handle; connection from %s closed unanswered",
                              self.handler_timeout_s, peer)
                    return
                except Exception:
                    self.stats.handler_errors += 1
                    log.exception("his: the message handler failed; connection from %s closed unanswered", peer)
                    return
                self.stats.replies += 1  # (counted first: the peer may read it the moment it is written)
                writer.write(frame(reply))
                try:
                    await asyncio.wait_for(writer.drain(), self.write_timeout_s)
                except TimeoutError:
                    self.stats.timeouts += 1
                    log.warning("his: MLLP reply to %s not taken within %.0f s", peer, self.write_timeout_s)
                    return


class MllpClient:
    """A blocking MLLP sender: one connection, one block at a time, each reply awaited (bounded)."""

    def __init__(self, host: str, port: int, *, connect_timeout_s: float = 10.0, reply_timeout_s: float = 30.0,
                 max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.host = host
        self.port = port
        self.connect_timeout_s = connect_timeout_s
        self.reply_timeout_s = reply_timeout_s
        self.max_message_bytes = max_message_bytes
        self._sock: socket.socket | None = None
        self._decoder = FrameDecoder(max_message_bytes)

    def send(self, message: bytes) -> bytes:
        """Send one message and return the peer's reply (unframed). Raises OSError / TimeoutError /
        FramingError; the connection is then closed and the next send reconnects."""
        try:
            sock = self._connect()
            sock.sendall(frame(message))
            return self._receive(sock)
        except BaseException:
            self.close()
            raise

    def _connect(self) -> socket.socket:
        if self._sock is None:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout_s)
            self._decoder = FrameDecoder(self.max_message_bytes)
        self._sock.settimeout(self.reply_timeout_s)
        return self._sock

    def _receive(self, sock: socket.socket) -> bytes:
        while True:
            try:
                chunk = sock.recv(1 << 16)
            except TimeoutError:
                raise TimeoutError(f"no MLLP reply from {self.host}:{self.port} within {self.reply_timeout_s} s") \
                    from None
            if not chunk:
                raise ConnectionResetError(f"{self.host}:{self.port} closed the connection before replying")
            blocks = self._decoder.feed(chunk)
            if blocks:
                return blocks[0]

    def interrupt(self) -> None:
        """From another thread: end a send waiting on the peer now (it raises OSError)."""
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    def __enter__(self) -> MllpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
