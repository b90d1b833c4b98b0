"""Which simulator a run ran: a digest of the source and data files of the packages a run executes.
A row is only as reproducible as the code that made it, so a resumed sweep re-runs what an older
(or newer) simulator produced, and a cluster whose workers run other code than the driver is
noticed (the row says what the worker ran)."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from pathlib import Path

#: the packages a run executes (the sweep's own planning and reporting are not part of a run)
RUN_PACKAGES = ("hal", "missions", "robots", "sim", "telemetry", "fleet", "his")
SUFFIXES = frozenset({".py", ".yaml", ".yml", ".json"})
#: sweep files live in sim/ but no run reads them
SKIP_DIRS = frozenset({"sweeps", "__pycache__"})


@functools.cache
def code_digest() -> str:
    digest = hashlib.sha256()
    for package in RUN_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            continue
        root = Path(spec.origin).parent
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if path.suffix in SUFFIXES and path.is_file() and not SKIP_DIRS & set(rel.parts[:-1]):
                digest.update(f"{package}/{rel.as_posix()}\0".encode())
                digest.update(path.read_bytes())
                digest.update(b"\0")
    return digest.hexdigest()[:16]
