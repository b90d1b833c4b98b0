"""Runs one simulated nursing robot's ward round in its own process (killed by the test)."""

from __future__ import annotations

import sys
from pathlib import Path

from sim.runner import SimOptions, SimulationRun
from sim.scenario import load_scenario

if __name__ == "__main__":
    scenario_path, journal_dir, report_dir, hours = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    SimulationRun(
        load_scenario(scenario_path),
        SimOptions(seed=1, hours=hours, broker=None, report_dir=Path(report_dir), journal_dir=Path(journal_dir),
                   progress=False),
    ).run()
