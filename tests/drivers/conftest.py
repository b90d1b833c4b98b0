from __future__ import annotations

from collections.abc import Iterator

import pytest
from ptypeer import ScriptedPeer

from hal.clock import SimClock


@pytest.fixture
def clock() -> SimClock:
    return SimClock()


@pytest.fixture
def peer() -> Iterator[ScriptedPeer]:
    p = ScriptedPeer()
    yield p
    p.close()
