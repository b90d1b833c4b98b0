"""Append-only mission journal: one JSON line per fact, flushed and fsynced before we act on it.

Facts, in the order they happen to a mission:

- ``submitted``  — kind, validated params, priority, submission sequence number;
- ``step``       — a step committed, with the step's result data (the outbox entry);
- ``published``  — the events for that step were emitted;
- ``finished``   — outcome and reason.

Outbox rule: a step's result (e.g. a nursing record) is journaled *first*, its events are emitted
after, then ``published`` is journaled. A kill between the two leaves a committed but unpublished
step: on restart the same record (same ``record_id``) is emitted again — consumers dedupe — but the
bed is never measured again.

A kill in the middle of a write leaves a truncated last line. It is dropped with a warning when
the journal is opened (so the next append starts on a fresh line) and skipped when replaying.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SUBMITTED = "submitted"
STEP = "step"
PUBLISHED = "published"
FINISHED = "finished"


@dataclass(frozen=True, slots=True)
class CommittedStep:
    step: str
    data: dict[str, Any]
    published: bool


@dataclass
class MissionRecordState:
    """What the journal knows of one mission."""

    mission_id: str
    kind: str
    params: dict[str, Any]
    priority: int
    seq: int
    stamp_s: float
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)  # committed, in order
    published: set[str] = field(default_factory=set)
    finished: bool = False
    outcome: str | None = None
    reason: str | None = None

    def committed_steps(self) -> list[CommittedStep]:
        return [CommittedStep(name, data, name in self.published) for name, data in self.steps.items()]


class Journal:
    """One robot's journal file (conventionally ``<dir>/<robot_id>.journal.jsonl``)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._drop_truncated_tail()

    @classmethod
    def in_directory(cls, directory: Path | str, robot_id: str) -> Journal:
        return cls(Path(directory) / f"{robot_id}.journal.jsonl")

    # ---- writing ----------------------------------------------------------------------------

    def submitted(
        self, mission_id: str, kind: str, params: dict[str, Any], priority: int, seq: int, stamp_s: float
    ) -> None:
        self._append(
            {"type": SUBMITTED, "mission_id": mission_id, "kind": kind, "params": params,
             "priority": priority, "seq": seq, "stamp_s": stamp_s}
        )

    def step_committed(self, mission_id: str, step: str, data: dict[str, Any], stamp_s: float) -> None:
        self._append({"type": STEP, "mission_id": mission_id, "step": step, "data": data, "stamp_s": stamp_s})

    def step_published(self, mission_id: str, step: str, stamp_s: float) -> None:
        self._append({"type": PUBLISHED, "mission_id": mission_id, "step": step, "stamp_s": stamp_s})

    def finished(
        self, mission_id: str, outcome: str, reason: str | None, data: dict[str, Any], stamp_s: float
    ) -> None:
        self._append(
            {"type": FINISHED, "mission_id": mission_id, "outcome": outcome, "reason": reason,
             "data": data, "stamp_s": stamp_s}
        )

    def _append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n"
        existed = self.path.exists()
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        if not existed:
            _fsync_directory(self.path.parent)

    # ---- reading ----------------------------------------------------------------------------

    def replay(self) -> dict[str, MissionRecordState]:
        """Every mission the journal knows, in submission order. Never raises on bad lines."""
        missions: dict[str, MissionRecordState] = {}
        if not self.path.exists():
            return missions
        lines = self.path.read_text(encoding="utf-8", errors="replace").split("\n")
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                _apply(missions, record)
            except (ValueError, KeyError, TypeError) as exc:
                where = "truncated last line" if number >= len(lines) - 1 else "corrupt line"
                log.warning("journal %s: ignoring %s %d (%s)", self.path, where, number, exc)
        return dict(sorted(missions.items(), key=lambda item: item[1].seq))

    def last_seq(self) -> int:
        return max((m.seq for m in self.replay().values()), default=0)

    def _drop_truncated_tail(self) -> None:
        """A kill mid-write leaves a last line without its newline: cut it off, with a warning."""
        if not self.path.exists():
            return
        with self.path.open("rb+") as f:
            size = f.seek(0, os.SEEK_END)
            if size == 0:
                return
            f.seek(size - 1)
            if f.read(1) == b"\n":
                return
            f.seek(0)
            content = f.read()
            keep = content.rfind(b"\n") + 1
            log.warning(
                "journal %s: dropping a truncated last line (%d bytes) left by an interrupted write",
                self.path, size - keep,
            )
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())


def _apply(missions: dict[str, MissionRecordState], record: dict[str, Any]) -> None:
    kind = record["type"]
    mission_id = str(record["mission_id"])
    if kind == SUBMITTED:
        missions[mission_id] = MissionRecordState(
            mission_id=mission_id,
            kind=str(record["kind"]),
            params=dict(record["params"]),
            priority=int(record["priority"]),
            seq=int(record["seq"]),
            stamp_s=float(record["stamp_s"]),
        )
        return
    state = missions[mission_id]  # KeyError: a fact about an unknown mission (reported, skipped)
    if kind == STEP:
        state.steps[str(record["step"])] = dict(record["data"])
    elif kind == PUBLISHED:
        state.published.add(str(record["step"]))
    elif kind == FINISHED:
        state.finished = True
        state.outcome = str(record["outcome"])
        state.reason = record.get("reason")
    else:
        raise ValueError(f"unknown journal record type {kind!r}")


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some platforms cannot open directories; the file itself is synced
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
