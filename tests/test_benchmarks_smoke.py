"""Smoke test of the benchmark harness (``benchmarks/``): every case, tiny sizes."""

from __future__ import annotations

import json
import math

from benchmarks.cases import CASES
from benchmarks.harness import TAYLORJIT, Options, main, run_case

TOP_KEYS = {
    "case",
    "description",
    "date",
    "machine",
    "options",
    "params",
    "implementations",
    "measurements",
    "medians",
    "ratios",
    "accuracy",
}
MEASUREMENT_KEYS = {"metric", "impl", "unit", "raw", "median", "min", "label", "note", "error"}


def test_all_cases_quick(tmp_path):
    options = Options(
        quick=True,
        npoints=64,
        repeat=2,
        compile_repeat=1,
        min_time=0.0,
        mp_points=4,
        results_dir=tmp_path,
        echo=False,
    )
    docs = {}
    for name in CASES:
        doc = run_case(name, options)
        path = tmp_path / f"{name}.json"
        assert path.is_file()
        on_disk = json.loads(path.read_text(encoding="utf-8"))
        assert on_disk["case"] == name
        assert TOP_KEYS <= set(on_disk)
        assert {"cpu", "nproc", "python", "versions"} <= set(on_disk["machine"])
        assert {"numpy", "llvmlite"} <= set(on_disk["machine"]["versions"])
        for m in on_disk["measurements"]:
            assert MEASUREMENT_KEYS <= set(m)
            assert m["error"] or (m["raw"] and m["median"] is not None)
        if name.startswith("cfunc_"):
            assert on_disk["params"]["npoints"] == 64
            # numpy is always there: its throughput and mpmath check must have run
            assert doc["medians"]["throughput"]["numpy"] > 0
            assert doc["accuracy"]["numpy"]["err_mpmath"] < 1e-12
        else:
            if "npoints" in on_disk["params"]:  # gdual cases over many points honour --npoints
                assert on_disk["params"]["npoints"] == 64
            # every available anchor produced at least one timing
            for status in on_disk["implementations"]:
                if status["available"] and status["name"] != TAYLORJIT:
                    assert any(
                        m["impl"] == status["name"] and m["unit"] != "rel" and not m["error"]
                        for m in on_disk["measurements"]
                    ), (name, status["name"])
        docs[name] = on_disk

    for name, doc in docs.items():
        status = next(s for s in doc["implementations"] if s["name"] == TAYLORJIT)
        assert status["available"], (name, status)
        errors = {  # "n/a: ..." marks a comparison with an anchor that is not installed
            m["metric"]: m["error"]
            for m in doc["measurements"]
            if m["impl"] == TAYLORJIT and m["error"] and not m["error"].startswith("n/a")
        }
        assert not errors, (name, errors)
        timings = [
            m for m in doc["measurements"] if m["impl"] == TAYLORJIT and m["unit"] != "rel"
        ]
        assert timings, name
        assert all(m["median"] > 0 for m in timings), (name, timings)
        acc = doc["accuracy"].get(TAYLORJIT, {})
        assert acc, (name, "taylorjit reports no accuracy metric")
        # gdual: reciprocals of high powers lose a few digits by cancellation in every library
        limit = 1e-12 if name.startswith("cfunc_") else 1e-10
        for metric, value in acc.items():
            assert math.isfinite(value) and value < limit, (name, metric, acc)
        if name.startswith("cfunc_"):
            assert {"err_numpy", "err_mpmath"} <= set(acc), (name, acc)
            if "heyoka" in doc["medians"].get("throughput", {}):
                assert doc["ratios"]["throughput"]["heyoka"] > 0
        if name.startswith("taylor_"):  # the integrator cases (benchmarks/integrator_cases.py)
            medians = doc["medians"]
            for metric in ("construct_cold", "construct_disk", "step_time", "nsteps"):
                assert medians[metric][TAYLORJIT] > 0, (name, metric)
            # the construction in a second process loaded the machine code from the disk cache
            disk = next(m for m in doc["measurements"]
                        if m["metric"] == "construct_disk" and m["impl"] == TAYLORJIT)
            assert "compiled_from = disk" in disk["note"], (name, disk["note"])
            assert "err_invariant" in acc or "scipy_err" in acc or "diff_heyoka" in acc, (name, acc)


def test_cli_list_and_unknown(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    for name in CASES:
        assert name in out
    assert main(["no_such_case"]) == 2
