"""Store-and-forward spool: order, bound, overflow policy (viz first, never clinical), restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from telemetry.spool import DROP_ORDER, NEVER_DROPPED, Spool
from telemetry.topics import Channel


def _add(spool: Spool, channel: Channel, seq: int) -> int:
    return spool.append(channel, f"medbot/v1/s/r/{channel.value}", seq, 1, False, f"{channel.value}{seq}".encode())


def test_pending_is_in_insertion_order_and_ack_forgets(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", max_messages=100)
    rows = [_add(spool, Channel.EVENTS, i) for i in range(5)]
    assert [m.seq for m in spool.pending()] == [0, 1, 2, 3, 4]
    spool.ack(rows[:2])
    assert [m.seq for m in spool.iter_pending(batch=2)] == [2, 3, 4]
    assert spool.stats.acked == 2 and len(spool) == 3


def test_overflow_drops_viz_first_then_state_and_never_clinical(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", max_messages=4)
    _add(spool, Channel.CLINICAL, 0)
    _add(spool, Channel.VIZ, 0)
    _add(spool, Channel.EVENTS, 0)
    _add(spool, Channel.VIZ, 1)
    _add(spool, Channel.STATE, 0)  # full: the oldest viz goes
    assert [(m.channel, m.seq) for m in spool.pending()] == [
        (Channel.CLINICAL, 0), (Channel.EVENTS, 0), (Channel.VIZ, 1), (Channel.STATE, 0)]
    _add(spool, Channel.CLINICAL, 1)  # viz again, then state
    _add(spool, Channel.CLINICAL, 2)
    _add(spool, Channel.CLINICAL, 3)  # then events
    _add(spool, Channel.CLINICAL, 4)  # only clinical left: kept beyond the bound
    assert {m.channel for m in spool.pending()} == {Channel.CLINICAL}
    assert [m.seq for m in spool.pending()] == [0, 1, 2, 3, 4]
    stats = spool.stats
    assert stats.dropped == {"viz": 2, "state": 1, "events": 1}
    assert stats.over_bound == 1
    assert spool.take_unreported_drops() == {"viz": 2, "state": 1, "events": 1}
    assert spool.take_unreported_drops() == {}
    assert Channel.CLINICAL in NEVER_DROPPED and DROP_ORDER[0] is Channel.VIZ


def test_unacknowledged_messages_survive_a_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db")
    rows = [_add(spool, Channel.ALERTS, i) for i in range(3)]
    spool.ack([rows[0]])
    spool.close()  # the process dies here
    again = Spool(tmp_path / "s.db")
    assert [(m.seq, m.payload) for m in again.pending()] == [(1, b"alerts1"), (2, b"alerts2")]
    assert len(again) == 2
    with pytest.raises(ValueError):
        Spool(tmp_path / "t.db", max_messages=0)
