"""Chain-of-custody ledger: every hand-over of goods is an entry that hashes the previous one.

An entry's hash is sha256 over the canonical JSON (sorted keys, no spaces, UTF-8) of the entry
without its own ``hash`` field; the entry carries ``prev_hash``, so changing any entry breaks
its own hash and changing a hash breaks the next entry's link. The first entry links to a
genesis hash bound to the mission id, so entries cannot be moved between deliveries.
`verify_chain` walks the chain and names the first broken entry.

Entries name who by a pseudonymous staff reference (``st-…``), never by name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

LOADED = "loaded"
HANDED_OVER = "handed_over"
RETURNED = "returned"
TAMPER_DETECTED = "tamper_detected"
ACTIONS = (LOADED, HANDED_OVER, RETURNED, TAMPER_DETECTED)

_FIELDS = ("seq", "action", "mission_id", "who", "what", "when_s", "where", "compartment", "prev_hash")


def canonical_json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def genesis_hash(mission_id: str) -> str:
    return hashlib.sha256(f"medbot-custody:{mission_id}".encode()).hexdigest()


def entry_hash(entry: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of the entry without its ``hash`` (prev_hash included)."""
    return hashlib.sha256(canonical_json({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainCheck:
    ok: bool
    entries: int
    first_broken_seq: int | None = None
    reason: str = ""


def verify_chain(entries: Sequence[Mapping[str, Any]], mission_id: str) -> ChainCheck:
    """Check every link and hash from the genesis on; the first broken entry is named."""
    prev = genesis_hash(mission_id)
    for index, entry in enumerate(entries):
        seq = entry.get("seq")
        if seq != index:
            return ChainCheck(False, len(entries), index, f"entry {index}: sequence {seq!r} out of order")
        if entry.get("mission_id") != mission_id:
            return ChainCheck(False, len(entries), index, f"entry {index}: belongs to another mission")
        if entry.get("prev_hash") != prev:
            return ChainCheck(False, len(entries), index, f"entry {index}: does not link to the entry before it")
        if entry.get("hash") != entry_hash(entry):
            return ChainCheck(False, len(entries), index, f"entry {index} ({entry.get('action')}): content changed")
        prev = str(entry["hash"])
    return ChainCheck(True, len(entries))


class CustodyLedger:
    """One delivery's chain; entries are plain dicts so they journal and publish as they are."""

    def __init__(self, mission_id: str, entries: Sequence[Mapping[str, Any]] = ()) -> None:
        self.mission_id = mission_id
        self.entries: list[dict[str, Any]] = [dict(e) for e in entries]

    @property
    def head_hash(self) -> str:
        return str(self.entries[-1]["hash"]) if self.entries else genesis_hash(self.mission_id)

    def new_entry(
        self, action: str, *, who: str | None, what: Mapping[str, int], when_s: float, where: str,
        compartment: str | None,
    ) -> dict[str, Any]:
        """The next entry, linked and hashed, without appending it (the caller journals it first)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown custody action {action!r} (known: {', '.join(ACTIONS)})")
        entry: dict[str, Any] = {
            "seq": len(self.entries),
            "action": action,
            "mission_id": self.mission_id,
            "who": who,
            "what": dict(sorted(what.items())),
            "when_s": round(when_s, 3),
            "where": where,
            "compartment": compartment,
            "prev_hash": self.head_hash,
        }
        assert tuple(entry) == _FIELDS
        entry["hash"] = entry_hash(entry)
        return entry

    def append(self, entry: Mapping[str, Any]) -> None:
        if entry.get("prev_hash") != self.head_hash:
            raise ValueError(f"custody entry {entry.get('seq')} does not link to the ledger's head")
        self.entries.append(dict(entry))

    def has(self, action: str) -> bool:
        return any(e["action"] == action for e in self.entries)

    def verify(self) -> ChainCheck:
        return verify_chain(self.entries, self.mission_id)
