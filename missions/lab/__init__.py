"""Lab rules and building blocks for the lab robot's missions: the test menu with reference ranges
and critical limits (`reference`), Westgard QC (`qc`), the order book (`orders`), tube moves
(`moves`), the day's run planning (`planning`), sample outcomes and result alerts (`report`), what
a run journals besides its results (`run_records`) and the base the lab run and the sample pick-up
share (`lab_mission`). Imports `hal` and the mission framework, never `sim` or `robots`."""
