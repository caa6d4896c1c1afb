"""The examples run to the end and pass the checks they print (each checks its own results
against closed forms, conserved quantities or finite differences)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: name -> whether it takes the path of its plot as its argument
EXAMPLES = {
    "pendulum": True,
    "lorenz": True,
    "bouncing_ball": True,
    "poincare_section": True,
    "uncertainty_map": True,
    "stm_kepler": False,
    "cfunc_nbody": False,
}


def run_example(name: str, args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, str(ROOT / "examples" / f"{name}.py"), *args],
                          env=env, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_runs_and_its_checks_pass(name, tmp_path):
    if EXAMPLES[name]:
        pytest.importorskip("matplotlib")  # in the test extra; examples plot with it
    plot = tmp_path / f"{name}.png"
    result = run_example(name, [str(plot)] if EXAMPLES[name] else [])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    checks = [line for line in result.stdout.splitlines() if line.startswith("checks:")]
    assert all(line.startswith("checks: ok") for line in checks), checks
    if EXAMPLES[name]:
        assert plot.stat().st_size > 10_000  # a PNG was written where asked


@pytest.mark.slow
def test_outer_solar_system_example(tmp_path):  # 10^5 years, four runs: about 11 s
    pytest.importorskip("matplotlib")
    result = run_example("outer_solar_system", [str(tmp_path / "oss.png")])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "checks: ok" in result.stdout
