"""tests/sweep: sweep files written for each test; tiny runs (minutes of simulated time)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from sweep_files import sweep_data


@pytest.fixture
def write_sweep(tmp_path: Path) -> Callable[..., Path]:
    """write_sweep(name="x.yaml", **fields): a sweep file in tmp_path, `fields` over the tiny one."""

    def write(filename: str = "sweep.yaml", **over: Any) -> Path:
        path = tmp_path / filename
        path.write_text(yaml.safe_dump(sweep_data(**over), sort_keys=False), encoding="utf-8")
        return path

    return write
