"""The fixed-asset register and the audit comparison.

Each registered asset has a tag and a home room. After an audit visits rooms and reads the tags
there, an asset is *present* (seen in its home room), *misplaced* (seen in another audited
room), or *missing* (its home room was audited and it was seen nowhere). A tag the register
does not know is reported as *unregistered*. Rooms not audited say nothing about their assets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RegisteredAsset(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    asset_id: str = Field(min_length=1, max_length=64)
    tag_id: str = Field(min_length=1, max_length=128)
    kind: str = Field(default="equipment", max_length=64)
    room: str = Field(min_length=1, max_length=128)


def compare_with_register(
    register: Sequence[RegisteredAsset], seen_by_room: Mapping[str, Iterable[str]]
) -> dict[str, Any]:
    """Findings of an audit: present, misplaced, missing, unregistered (sorted, deterministic)."""
    by_tag = {a.tag_id: a for a in register}
    seen_at: dict[str, str] = {}
    unregistered: list[dict[str, str]] = []
    for room in sorted(seen_by_room):
        for tag in sorted(set(seen_by_room[room])):
            if tag not in by_tag:
                unregistered.append({"tag_id": tag, "room": room})
            elif tag not in seen_at or room == by_tag[tag].room:
                seen_at[tag] = room  # seen in two rooms (reader range overlaps): home room wins
    present: list[str] = []
    misplaced: list[dict[str, str]] = []
    missing: list[dict[str, str]] = []
    for asset in sorted(register, key=lambda a: a.asset_id):
        found_in = seen_at.get(asset.tag_id)
        if found_in == asset.room:
            present.append(asset.asset_id)
        elif found_in is not None:
            misplaced.append({"asset_id": asset.asset_id, "kind": asset.kind, "register_room": asset.room,
                              "found_in": found_in})
        elif asset.room in seen_by_room:
            missing.append({"asset_id": asset.asset_id, "kind": asset.kind, "register_room": asset.room})
    return {"present": present, "misplaced": misplaced, "missing": missing, "unregistered": unregistered}
