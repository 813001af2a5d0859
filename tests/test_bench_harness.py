"""Unit tests of the benchmark harness modules, on torch-only implementations (no compiled extension needed)."""

import argparse
import json

import pytest
import torch

from benchmarks import render
from benchmarks.harness import BenchmarkError
from benchmarks.harness.cases import Case, run_case
from benchmarks.harness.checks import check_impls, tolerance
from benchmarks.harness.cli_args import add_point_args, listed_points, parse_ints, run_script, select_impls
from benchmarks.harness.devices import num_threads
from benchmarks.harness.inputs import dtype_name, probabilities, silhouettes
from benchmarks.harness.metadata import copy_bandwidth
from benchmarks.harness.report import fmt_bytes, fmt_time, render_markdown
from benchmarks.harness.results import SCHEMA, Results, load_results
from benchmarks.harness.roofline import conv_peak, count_flops
from benchmarks.harness.sweep import axis_sweep
from benchmarks.harness.timing import time_interleaved, time_once, timed_runs, timer

CPU = torch.device("cpu")


def _case(**impls) -> Case:
    def make_inputs(device):
        return {"x": torch.linspace(-1, 1, 64, device=device).view(4, 16)}  # [4, 16]

    return Case("double", {"N": 4}, make_inputs, dict({"reference": lambda x: x * 2, "fused": lambda x: x + x},
                                                      **impls),
                "x", lambda pass_: 4 * 16 * 4 * 2, 64, output_bytes=4 * 16 * 4)


def _result(rows=(), targets=()) -> dict:
    return {"schema": SCHEMA, "bench": "tiny", "command": "python -m benchmarks.x", "created": "2026-01-01T00:00:00",
            "meta": {"git_commit": "abc", "devices": [{"device": "cpu", "name": "a CPU"}]},
            "copy_bandwidth": {"cpu/2t": {"gbps": 12.5}}, "rows": list(rows), "targets": list(targets)}


def _row(impl, median, **kw):
    row = {"op": "double", "impl": impl, "pass": "fwd", "device": "cpu", "threads": 2, "N": 4, "dtype": "float32",
           "time_s": {"median": median, "iqr": median / 10}, "gbps": 1.5, "mpix_s": 30.0, "copy_fraction": None}
    return dict(row, **kw)


# ------------------------------------------------------------------------------------------------------ report

def test_markdown_of_a_tiny_result():
    rows = [_row("fused", 2e-6, speedup={"reference": {"ratio_of_medians": 3.0, "paired": 2.9}},
                 skipped={"opengait": "ImportError: no kornia"}, memory={"peak_bytes": 3 << 20}),
            _row("reference", 6e-3)]
    md = render_markdown(_result(rows, [{"name": "t1", "goal": "≥ 2×", "measured": "3.0×", "met": True,
                                         "device": "cpu"}]))
    assert md.startswith("# Benchmark `tiny`\n") and "- command: `python -m benchmarks.x`" in md
    assert "- measured copy bandwidth cpu/2t: 12.5 GB/s (read + write)" in md
    assert "| t1 | ≥ 2× | 3.0× | yes | cpu |" in md
    assert "## double · fwd · cpu · 2 thread(s)" in md
    assert "| N | dtype | impl | median | IQR | GB/s | Mpx/s | copy % | speed-up of fused | peak extra |" in md
    assert "| 4 | float32 | fused | 2.0 µs | 0.2 µs | 1.50 | 30 | – | 3.0× vs reference | 3.0 MiB |" in md
    assert "| 4 | float32 | reference | 6.00 ms |" in md
    assert "- N=4, dtype=float32: `opengait`: ImportError: no kornia" in md


def test_markdown_of_rate_rows():
    md = render_markdown(_result([_row("fused", 0.5, op="train_step", rate=2.0, rate_unit="steps/s")]))
    assert "| rate |" in md and "| 2.00 steps/s |" in md and "GB/s" not in md.split("## train_step")[1]


def test_markdown_of_flop_rates_and_the_convolution_peak():
    data = _result([_row("fused", 0.5, op="unet", rate=2.0, rate_unit="frames/s", gflop=80.0, gflops_per_s=160.0),
                    _row("reference", 1.0, op="unet", rate=1.0, rate_unit="frames/s")])
    data["conv_peak"] = {"cpu/2t": {"gflops": 231.4, "shape": [16, 128, 32], "all": [[16, 128, 32, 231.4]]}}
    md = render_markdown(data)
    assert "- measured 3x3 convolution peak cpu/2t: 231 GFLOP/s (16 frames, 128 to 128 channels, 32²" in md
    assert "| rate | GFLOP/s |" in md and "| 2.00 frames/s | 160 |" in md and "| 1.00 frames/s | – |" in md
    assert "GFLOP/s" not in render_markdown(_result([_row("fused", 0.5, op="unet", rate=2.0)]))


def test_results_measure_the_convolution_peak_once_per_thread_count(monkeypatch):
    from benchmarks.harness import results as results_mod

    calls = []
    monkeypatch.setattr(results_mod, "conv_peak", lambda device: calls.append(torch.get_num_threads()) or {"gflops": 1})
    res = Results("tiny", [CPU])
    assert res.conv_peak(CPU, threads=1) == {"gflops": 1} and res.conv_peak(CPU, threads=1) == {"gflops": 1}
    assert calls == [1] and list(res.data["conv_peak"]) == ["cpu/1t"]


def test_formatting_units():
    assert (fmt_time(2.5), fmt_time(2.5e-3), fmt_time(2.5e-6)) == ("2.50 s", "2.50 ms", "2.5 µs")
    assert (fmt_bytes(None), fmt_bytes(3 << 20)) == ("–", "3.0 MiB")


def test_render_entry_rewrites_markdown_from_json(tmp_path, capsys):
    path = tmp_path / "tiny.json"
    data = _result([_row("fused", 1e-3)])
    path.write_text(json.dumps(data))
    assert render.main([str(path)]) == 0
    assert (tmp_path / "tiny.md").read_text() == render_markdown(data)
    assert f"rendered {tmp_path / 'tiny.md'}" in capsys.readouterr().out
    path.write_text(json.dumps(dict(data, schema="other/1")))
    assert render.main([str(path)]) == 2
    assert "expected 'gaitedge-bench/1'" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------------ results

def test_results_round_trip(tmp_path):
    res = Results("tiny", [CPU], command="cmd")
    res.add([_row("fused", 1e-3)])
    res.target("t", "≥ 1×", "2×", True, "cpu", extra=1)
    paths = res.write(tmp_path, "stem")
    assert list(paths)[:2] == ["json", "md"] and paths["json"] == tmp_path / "stem.json"
    data = load_results(paths["json"])
    assert data["bench"] == "tiny" and data["command"] == "cmd" and data["meta"]["loadavg_end"] is not None
    assert data["targets"] == [{"name": "t", "goal": "≥ 1×", "measured": "2×", "met": True, "device": "cpu",
                                "command": "cmd", "extra": 1}]
    assert paths["md"].read_text() == render_markdown(data)


# ------------------------------------------------------------------------------------------------------ timing

def test_interleaved_timer_gives_one_measurement_per_implementation():
    st = time_interleaved({"a": lambda: None, "b": lambda: None, "c": lambda: None}, CPU, warmup=1, block_s=0.001,
                          min_runs=4, budget_s=0.0)
    assert list(st) == ["a", "b", "c"]
    assert all(s.runs == 4 and len(s.samples) == 4 and s.q1 <= s.median <= s.q3 for s in st.values())
    with pytest.raises(BenchmarkError, match="no implementations"):
        time_interleaved({}, CPU)


def test_torch_timer_keeps_the_thread_count():
    seen = []
    with num_threads(2):
        timer(lambda: seen.append(torch.get_num_threads())).timeit(1)
    assert set(seen) == {2}  # torch.utils.benchmark.Timer alone would run at one thread


def test_timed_runs_and_time_once():
    m = timed_runs(lambda: sum(range(1000)), 3, label="sum", description="range")
    assert len(m.times) >= 3 and 0 < min(m.times) <= m.median
    assert m.task_spec.label == "sum" and m.task_spec.description == "range"
    assert time_once(lambda: None) > 0
    with pytest.raises(BenchmarkError, match="runs must be >= 1"):
        timed_runs(lambda: None, 0)


def test_copy_bandwidth_counts_read_and_write():
    cb = copy_bandwidth(CPU, nbytes=1 << 20, budget_s=0.02)
    assert cb["bytes_moved"] == 2 << 20 and cb["gbps"] == pytest.approx(cb["bytes_moved"] / cb["time_s"] / 1e9)
    assert cb["threads"] == torch.get_num_threads()


# ------------------------------------------------------------------------------------------------------ cases, checks

def test_count_flops_is_two_per_multiply_add_of_the_convolutions_and_products():
    x, w = torch.randn(2, 3, 8, 8), torch.randn(5, 3, 3, 3)
    a, b = torch.randn(4, 6), torch.randn(6, 7)
    # 2 frames x 64 pixels x 5 outputs x 27 taps, plus 4 x 7 x 6; the add is not counted
    assert count_flops(lambda: torch.nn.functional.conv2d(x, w, padding=1) + 1) == 2 * 2 * 64 * 5 * 27
    assert count_flops(lambda: a @ b) == 2 * 4 * 7 * 6


def test_conv_peak_reports_the_best_of_its_shapes():
    with num_threads(1):
        peak = conv_peak(CPU, shapes=((2, 8, 8), (2, 16, 8)), min_run_time=0.01)
    assert len(peak["all"]) == 2 and [r[:3] for r in peak["all"]] == [[2, 8, 8], [2, 16, 8]]
    assert peak["gflops"] == max(r[3] for r in peak["all"]) > 0
    assert peak["shape"] in ([2, 8, 8], [2, 16, 8])
    with pytest.raises(BenchmarkError, match="at least one shape"):
        conv_peak(CPU, shapes=())


def test_checks_against_the_reference():
    assert tolerance(torch.float16) == 2e-3 and tolerance(torch.float32) == 2e-5
    report = check_impls(_case(), CPU)
    assert report["fused"]["ok"] and report["fused"]["max_abs_err_out"] == 0.0
    with pytest.raises(BenchmarkError, match="'fused' disagrees"):
        check_impls(_case(fused=lambda x: x * 2.1), CPU)
    case = _case(broken=lambda x: 1 / 0)
    check_impls(case, CPU)  # a baseline that cannot run is dropped with its reason, not fatal
    assert "broken" not in case.impls and case.skipped["broken"].startswith("ZeroDivisionError")


def test_run_case_rows():
    rows = run_case(_case(), CPU, ["fwd", "fwd+bwd"], threads=1, budget_s=0.0, min_runs=2, memory=False)
    assert [(r["impl"], r["pass"]) for r in rows] == [("reference", "fwd"), ("fused", "fwd"),
                                                      ("reference", "fwd+bwd"), ("fused", "fwd+bwd")]
    for r in rows:
        assert r["threads"] == 1 and r["time_s"]["runs"] == 2 and r["correct"]["ok"] and r["N"] == 4
        assert ("speedup" in r) == (r["impl"] == "fused")
    assert set(rows[1]["speedup"]["reference"]) == {"ratio_of_medians", "paired"}


# ------------------------------------------------------------------------------------------------------ inputs

def test_silhouettes_and_probabilities():
    sil = silhouettes(3, 32, 24, torch.uint8, CPU, seed=5)
    assert sil.shape == (3, 1, 32, 24) and sil.dtype == torch.uint8 and set(sil.unique().tolist()) == {0, 1}
    assert torch.equal(sil, silhouettes(3, 32, 24, torch.uint8, CPU, seed=5))
    assert not torch.equal(sil, silhouettes(3, 32, 24, torch.uint8, CPU, seed=6))
    prob = probabilities(sil, torch.float16)
    assert prob.dtype == torch.float16 and prob.min() >= 0 and prob.max() <= 1
    assert dtype_name(torch.bfloat16) == "bfloat16"


# ------------------------------------------------------------------------------------------------------ sweeps, options

def test_axis_sweep_varies_one_axis_at_a_time():
    pts = axis_sweep({"N": 2, "k": 3}, [{"N": [1, 2]}, {"k": [3, 5]}])
    assert pts == [{"N": 1, "k": 3}, {"N": 2, "k": 3}, {"N": 2, "k": 5}]
    assert axis_sweep({"N": 9}, [{"N": [1]}])[0] == {"N": 9}  # the centre is always a point


def test_option_parsing():
    assert parse_ints("1,2, 30", "--N") == [1, 2, 30]
    with pytest.raises(BenchmarkError, match="--N: expected comma-separated integers"):
        parse_ints("1,x", "--N")
    with pytest.raises(BenchmarkError, match="non-negative"):
        parse_ints("-1", "--N")

    class Args:
        impls = "composite"

    case = _case(composite=lambda x: 2 * x, slow=lambda x: x * 2)
    select_impls(case, Args)
    assert set(case.impls) == {"fused", "composite", "reference"} and case.untimed == {"reference"}
    Args.impls = "nonsense"
    with pytest.raises(BenchmarkError, match="unknown implementation"):
        select_impls(_case(), Args)


def test_point_options_cross_every_listed_value_and_fill_the_rest_with_defaults():
    p = argparse.ArgumentParser()
    add_point_args(p, data="prob", k=True)
    assert listed_points(p.parse_args([])) is None  # the script's own default points apply
    pts = listed_points(p.parse_args(["--N", "2,4", "--dtypes", "float16"]))
    assert pts == [{"N": n, "size": 128, "k": 3, "dtypes": torch.float16, "masks": torch.uint8} for n in (2, 4)]
    with pytest.raises(BenchmarkError, match="--masks: unknown dtype"):
        listed_points(p.parse_args(["--masks", "float7"]))

    q = argparse.ArgumentParser()
    add_point_args(q, data="feature", channels=True)
    assert listed_points(q.parse_args(["--C", "3"])) == [
        {"N": 1024, "C": 3, "size": 128, "dtypes": torch.float32, "masks": torch.uint8}]


def test_run_script_turns_a_benchmark_error_into_exit_status_2(capsys):
    def bad():
        raise BenchmarkError("--N: no")

    with pytest.raises(SystemExit) as e:
        run_script(bad)
    assert e.value.code == 2 and "error: --N: no" in capsys.readouterr().err
    run_script(lambda: None)  # a clean run returns

    def bug():
        raise ValueError("a bug keeps its traceback")

    with pytest.raises(ValueError):
        run_script(bug)


def test_metadata_records_the_cpu_routes():
    # Result files say which CPU instruction routes produced them (ATen's capability decides ours too).
    from benchmarks.harness.metadata import metadata
    from gaitedge._extension import cpu_vector_routes

    meta = metadata([CPU])
    assert meta["aten_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert meta["gaitedge_cpu_vector_routes"] == list(cpu_vector_routes())
    assert set(meta["gaitedge_cpu_vector_routes"]) <= {"f16c", "avx2", "avx512"}
