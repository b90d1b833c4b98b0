"""The layer rule: the fleet service knows robots only through the MQTT contract (`telemetry/`),
and so does the HIS link (`his/`), which knows the fleet only by that contract's task topics too.

Checked two ways: statically (every import statement of every module under fleet/ and his/,
including imports inside functions) and dynamically (importing every module of the package in a
fresh interpreter loads none of the forbidden packages, so no indirect path sneaks one in)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

FLEET = Path(__file__).resolve().parents[2] / "fleet"
FORBIDDEN = ("robots", "missions", "sim", "hal", "dashboard", "datacenter")
HIS = FLEET.parent / "his"
HIS_FORBIDDEN = (*FORBIDDEN, "fleet")


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def test_no_fleet_module_imports_robots_missions_or_sim() -> None:
    modules = sorted(FLEET.rglob("*.py"))
    assert len(modules) > 5
    bad = [f"{p.relative_to(FLEET.parent)}:{line} imports {name}" for p in modules for line, name in _imports(p)
           if name.split(".")[0] in FORBIDDEN]
    assert bad == []


def test_importing_every_fleet_module_loads_no_forbidden_package() -> None:
    names = sorted(".".join(p.relative_to(FLEET.parent).with_suffix("").parts).removesuffix(".__init__")
                   for p in FLEET.rglob("*.py"))
    code = ("import importlib, sys\n"
            f"for n in {names!r}: importlib.import_module(n)\n"
            f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == ""


def test_the_checker_would_see_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from robots.robot import Robot\n    return Robot\n")
    assert (2, "robots.robot") in _imports(bad)


def test_no_his_module_imports_robots_missions_sim_or_the_fleet() -> None:
    modules = sorted(HIS.rglob("*.py"))
    assert len(modules) > 5
    bad = [f"{p.relative_to(HIS.parent)}:{line} imports {name}" for p in modules for line, name in _imports(p)
           if name.split(".")[0] in HIS_FORBIDDEN]
    assert bad == []


def test_importing_every_his_module_loads_no_forbidden_package() -> None:
    names = sorted(".".join(p.relative_to(HIS.parent).with_suffix("").parts).removesuffix(".__init__")
                   for p in HIS.rglob("*.py"))
    code = ("import importlib, sys\n"
            f"for n in {names!r}: importlib.import_module(n)\n"
            f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {HIS_FORBIDDEN!r})\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                         cwd=HIS.parent)
    assert out.stdout.strip() == ""
