"""Lab rules for the lab robot: the test menu with reference ranges and critical limits
(`reference`), result validation, Westgard QC (`qc`), the order book (`orders`) and tube moves
(`moves`). Imports `hal` only."""
