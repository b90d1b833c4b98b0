"""The sweep's results: one Parquet file, one row per run (its axis values, seed, every KPI, its
status and error), rewritten whole after every finished run (a few hundred small rows: cheap, and
a killed sweep keeps what it had). A resumed sweep skips the runs the file already has done."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sweep.spec import SweepSpec
from sweep.task import RunOutcome, RunTask

#: the columns of every row besides the axes and the KPIs
BASE_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("run_id", pa.string()), ("sweep", pa.string()), ("scenario", pa.string()), ("seed", pa.int64()),
    ("hours", pa.float64()), ("fleet_size", pa.int64()),
)
STATUS_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("status", pa.string()), ("attempts", pa.int64()), ("error", pa.string()), ("missing_kpis", pa.string()),
    ("code", pa.string()), ("wall_s", pa.float64()), ("worker", pa.string()),
)
RESERVED = frozenset(name for name, _ in BASE_COLUMNS + STATUS_COLUMNS)


def _axis_type(values: list[Any]) -> pa.DataType:
    if all(isinstance(v, bool) for v in values):
        return pa.bool_()
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return pa.int64()
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return pa.float64()
    return pa.string()


def schema_of(spec: SweepSpec) -> pa.Schema:
    axes = [(key, _axis_type(values)) for key, values in spec.axes.items()]
    kpis = [(name, pa.float64()) for name in spec.kpis]
    return pa.schema([*BASE_COLUMNS, *axes, *kpis, *STATUS_COLUMNS])


def row_of(spec: SweepSpec, scenario: str, task: RunTask, outcome: RunOutcome, attempts: int) -> dict[str, Any]:
    axis_types = {key: _axis_type(values) for key, values in spec.axes.items()}
    point = {key: (str(value) if axis_types[key] == pa.string() else value) for key, value in task.point.items()}
    kpis = {name: outcome.kpis.get(name) for name in spec.kpis}
    return {"run_id": task.run_id, "sweep": spec.name, "scenario": scenario, "seed": task.seed, "hours": task.hours,
            "fleet_size": task.fleet_size, **point, **kpis, "status": outcome.status, "attempts": attempts,
            "error": outcome.error, "missing_kpis": "\n".join(outcome.missing) or None, "code": outcome.code,
            "wall_s": round(outcome.wall_s, 3), "worker": outcome.worker}


class ResultStore:
    """The Parquet file of a sweep. Rows of runs the sweep file no longer has (another axis value,
    other hours) stay in it: results are not thrown away by editing the sweep file."""

    def __init__(self, path: Path, spec: SweepSpec) -> None:
        self.path = path
        self.schema = schema_of(spec)
        self.rows: dict[str, dict[str, Any]] = {}
        self._had_columns: set[str] = set()
        if path.exists():
            table = pq.read_table(path)
            self._had_columns = set(table.column_names)
            for extra in table.schema:  # keep the columns of earlier sweeps of this file
                if extra.name not in self.schema.names:
                    self.schema = self.schema.append(extra)
            for row in table.to_pylist():
                self.rows[str(row["run_id"])] = row

    def done(self, kpi_names: list[str], code: str) -> set[str]:
        """Runs that finished ok, on the simulator `code` (sweep/code.py), and have every KPI asked
        for now (a KPI added to the sweep file since is a reason to run again; so is a failed run)."""
        if not set(kpi_names) <= self._had_columns:
            return set()
        return {run_id for run_id, row in self.rows.items() if row.get("status") == "ok" and row.get("code") == code}

    def add(self, row: dict[str, Any]) -> None:
        self.rows[str(row["run_id"])] = row
        self.write()

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ordered = sorted(self.rows.values(), key=lambda r: (str(r.get("sweep")), str(r["run_id"])))
        table = pa.Table.from_pylist(ordered, schema=self.schema)
        tmp = self.path.with_name(self.path.name + ".tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, self.path)  # readers never see half a file


def read_rows(path: Path) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist()
