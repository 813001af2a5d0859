"""Smoke and contract tests of the benchmark harness (benchmarks/harness) and the suite behind `gaitedge bench`."""

import json
import re
import time
from pathlib import Path

import pytest
import torch

from benchmarks.harness import BenchmarkError
from benchmarks.harness.cases import limit_call_cost, run_case
from benchmarks.harness.checks import check_impls
from benchmarks.harness.cli_args import parse_dtypes, parse_passes
from benchmarks.harness.devices import pick_devices
from benchmarks.harness.memory import peak_memory
from benchmarks.harness.report import render_markdown
from benchmarks.harness.results import Results, load_results
from benchmarks.harness.sweep import op_sweep
from benchmarks.harness.timing import paired_ratio, time_interleaved

pytest.importorskip("gaitedge.ops", reason="gaitedge._C is not built")


def _tiny_case(impl_fused=None):
    from benchmarks import bench_gait_synthesis as bs

    case = bs.make_case(2, 12, 10, 3, torch.float32, torch.uint8, compile_baseline=False)
    case.impls.pop("opengait", None)
    if impl_fused is not None:
        case.impls["fused"] = impl_fused
    return case


def test_smoke_bench_script_writes_valid_json(tmp_path):
    from benchmarks import bench_gait_synthesis as bs

    bs.main(["--device", "cpu", "--N", "2", "--size", "16", "--k", "3", "--passes", "fwd,bwd,fwd+bwd",
             "--budget", "0.02", "--min-runs", "2", "--no-compile", "--impls", "fused,reference",
             "--out", str(tmp_path), "--stem", "smoke"])
    data = load_results(tmp_path / "smoke.json")
    assert data["meta"]["torch"] == torch.__version__ and data["meta"]["loadavg_start"] is not None
    assert data["meta"]["cpu_model"] and "cpu/" in next(iter(data["copy_bandwidth"]))
    rows = data["rows"]
    assert {(r["impl"], r["pass"]) for r in rows} == {(i, p) for i in ("fused", "reference")
                                                      for p in ("fwd", "bwd", "fwd+bwd")}
    for r in rows:
        t = r["time_s"]
        assert 0 < t["min"] <= t["median"] and t["q1"] <= t["median"] <= t["q3"] and t["runs"] >= 2
        assert r["bytes"] == 2 * 16 * 16 * (4 + 1 + 4) * (2 if r["pass"] == "fwd+bwd" else 1)
        assert r["gbps"] == pytest.approx(r["bytes"] / t["median"] / 1e9)
        assert r["correct"]["ok"] and r["memory"]["peak_bytes"] >= 0
    fused = [r for r in rows if r["impl"] == "fused"]
    assert all(r["speedup"]["reference"]["ratio_of_medians"] > 0 for r in fused)
    md = (tmp_path / "smoke.md").read_text()
    assert "## gait_synthesis · fwd+bwd · cpu" in md and "| fused |" in md and "× vs reference" in md


def test_feature_wrong_implementation_is_caught():
    case = _tiny_case(impl_fused=lambda prob, sil: prob * 2)
    with pytest.raises(BenchmarkError, match="'fused' disagrees with the reference"):
        check_impls(case, torch.device("cpu"))


def test_feature_failing_baseline_is_dropped_with_reason():
    case = _tiny_case()

    def broken(prob, sil):
        raise RuntimeError("no C++ compiler")

    case.impls["compiled"] = broken
    check_impls(case, torch.device("cpu"))
    assert "compiled" not in case.impls and "no C++ compiler" in case.skipped["compiled"]


def test_feature_one_slow_probe_does_not_drop_a_cheap_baseline(monkeypatch):
    # One slow timed call (a preemption on a busy machine) must not make the probe drop a baseline whose real cost
    # is far under the limit: a probe over the limit is run again and the faster call counts.
    from benchmarks import bench_gait_synthesis as bs
    from benchmarks.harness import cases

    case = bs.make_case(40, 12, 10, 3, torch.float32, torch.uint8, compile_baseline=False)
    case.impls.pop("opengait", None)
    probes = []

    def preempted_once(fn):  # the first probe "takes" 2 s (an estimate of 10 s at N = 40), every later one 1 ms
        fn()
        probes.append(1)
        return 2.0 if len(probes) == 1 else 1e-3

    monkeypatch.setattr(cases, "time_once", preempted_once)
    probed = [k for k in case.impls if k not in (case.primary, "compiled")]
    limit_call_cost(case, torch.device("cpu"), max_call_s=1.0)
    assert case.skipped == {} and all(k in case.impls for k in probed)
    assert len(probes) == len(probed) + 1  # only the slow probe ran twice


def test_feature_baseline_over_the_call_cost_limit_is_dropped_with_its_estimate():
    from benchmarks import bench_gait_synthesis as bs

    case = bs.make_case(40, 12, 10, 3, torch.float32, torch.uint8, compile_baseline=False)
    case.impls.pop("opengait", None)
    ref, comp = case.impls["reference"], case.impls["composite"]

    def slow(impl):  # 10 ms a frame: 0.4 s for the 40 frames, measured on 8
        def run(prob, sil):
            time.sleep(0.01 * prob.shape[0])
            return impl(prob, sil)
        return run

    case.impls.update(reference=slow(ref), slow=slow(comp))
    limit_call_cost(case, torch.device("cpu"), max_call_s=None)
    assert case.skipped == {} and "slow" in case.impls  # no limit: nothing is probed or dropped
    limit_call_cost(case, torch.device("cpu"), max_call_s=0.2)
    assert "slow" not in case.impls and "composite" in case.impls and "fused" in case.impls
    assert re.match(r"not timed: about 0\.[4-7] s per fwd\+bwd call at this size \(from 8 frames", case.skipped["slow"])
    # the reference stays the oracle, on the frames it can do within the limit, but is not timed
    assert "reference" in case.impls and "reference" in case.untimed and 10 <= case.check_frames <= 20
    assert f"checked on {case.check_frames} frames" in case.skipped["reference"]
    rows = run_case(case, torch.device("cpu"), ["fwd"], budget_s=0.02, min_runs=2, memory=False)
    assert {r["impl"] for r in rows} == {"fused", "composite"} and all(r["correct"]["ok"] for r in rows)
    data = {"bench": "x", "command": "c", "created": "t", "meta": {}, "rows": rows, "targets": []}
    md = render_markdown(data)
    assert "Baselines missing from this table" in md and "N=40, H=12, W=10, k=3" in md and "`slow`: not timed" in md


def test_feature_op_sweep_lists_every_value_one_axis_at_a_time():
    pts = op_sweep()
    centre = {"N": 240, "size": 128, "k": 3, "dtype": torch.float32, "mask": torch.uint8}
    assert pts.count(centre) == 1 and len(pts) == len({tuple(p.items()) for p in pts}) == 18
    for key, values in {"N": [1, 30, 240, 1024, 1920], "size": [64, 128, 256], "k": [3, 5, 7, 9]}.items():
        assert sorted({p[key] for p in pts}) == values
    pairs = {(p["dtype"], p["mask"]) for p in pts}
    assert len(pairs) == 9  # every prob dtype with every mask dtype
    for p in pts:  # each point leaves the centre along one axis only (dtype and mask are one axis)
        moved = {k for k in p if p[k] != centre[k]} - {"mask"} | ({"dtype"} if p["mask"] != centre["mask"] else set())
        assert len(moved) <= 1, p
    assert all("k" not in p for p in op_sweep(with_k=False))
    assert len(op_sweep(with_k=False)) == 15


def test_feature_interleaved_timing_orders_implementations():
    st = time_interleaved({"fast": lambda: None, "slow": lambda: time.sleep(0.002)}, torch.device("cpu"),
                          warmup=1, block_s=0.004, min_runs=3, budget_s=0.0)
    assert st["fast"].runs == st["slow"].runs == 3
    assert st["slow"].median >= 0.0019 > st["fast"].median
    assert paired_ratio(st["slow"], st["fast"]) > 10


def test_feature_peak_memory_counts_allocations():
    nbytes = 8 << 20

    def alloc():
        scratch = torch.ones(nbytes // 4)  # [2M] float32, freed on return
        return torch.zeros(nbytes // 4) + scratch  # the result: one more 8 MiB tensor

    mem = peak_memory(alloc, torch.device("cpu"), result_bytes=nbytes)
    assert mem["allocator_peak_bytes"] is None or mem["allocator_peak_bytes"] >= 2 * nbytes
    assert mem["peak_bytes"] >= 2 * nbytes and mem["scratch_bytes"] >= nbytes


def test_exception_devices():
    assert pick_devices("cpu") == [torch.device("cpu")]
    assert torch.device("cpu") in pick_devices("auto")
    with pytest.raises(BenchmarkError, match="unknown device"):
        pick_devices("tpu-ish:x")
    if not torch.cuda.is_available():
        with pytest.raises(BenchmarkError, match="--device 'cuda'"):
            pick_devices("cuda")
    with pytest.raises(BenchmarkError, match="--passes"):
        parse_passes("fwd,sideways")
    with pytest.raises(BenchmarkError, match="--dtypes"):
        parse_dtypes("float7", "--dtypes")


def test_exception_result_file_schema(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"schema": "other"}))
    with pytest.raises(BenchmarkError, match="schema"):
        load_results(bad)
    bad.write_text("{not json")
    with pytest.raises(BenchmarkError, match="cannot read"):
        load_results(bad)


def test_smoke_gaitedge_bench_cli(tmp_path, capsys):
    from benchmarks.suite import main

    assert main(["--tiny", "--only", "gait_synthesis", "--device", "cpu", "--no-memory",
                 "--out", str(tmp_path)]) == 0
    data = load_results(tmp_path / "gait_synthesis_tiny.json")
    assert data["rows"] and all(r["correct"]["ok"] for r in data["rows"])
    assert main(["--only", "nonsense"]) == 2
    assert "unknown benchmark" in capsys.readouterr().err
    if not torch.cuda.is_available():  # every benchmark skipped: nothing measured is a failure, not a success
        assert main(["--target", "--device", "cuda", "--out", str(tmp_path)]) == 1
        err = capsys.readouterr().err
        assert "--device 'cuda'" in err and "nothing was measured" in err


def test_smoke_gaitedge_bench_train_step(tmp_path):
    # `gaitedge bench --tiny` forwards --no-compile to every benchmark, the training step included
    from benchmarks.suite import main

    assert main(["--tiny", "--only", "train_step", "--device", "cpu", "--no-memory", "--out", str(tmp_path)]) == 0
    data = load_results(tmp_path / "train_step_tiny.json")
    impls = {r["impl"] for r in data["rows"]}
    assert {"fused", "reference", "composite"} <= impls and "compiled" not in impls
    fused = next(r for r in data["rows"] if r["op"] == "train_step" and r["impl"] == "fused")
    assert set(fused["speedup"]) == impls - {"fused"}
    (target,) = data["targets"]
    assert target["met"] is None and " vs " in target["measured"]  # a GPU-only goal: not judged on CPU
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (tmp_path / "train_step_tiny.png").stat().st_size > 0  # rates per implementation (no byte counts)


def test_exception_train_step_backend_that_disagrees_is_caught(monkeypatch):
    from benchmarks import bench_train_step as bt

    monkeypatch.setitem(bt.PLAIN_LAYERS, "composite", lambda: lambda prob, sil, ratio, k, size: torch.zeros(
        prob.shape[0], 1, *size, dtype=prob.dtype))
    args = bt.build_parser().parse_args(["--impls", "composite", "--no-memory", "--budget", "0.05"])
    res = Results("train_step", [torch.device("cpu")])
    with pytest.raises(BenchmarkError, match="fused and composite models disagree"):
        bt.run(torch.device("cpu"), 2, 2, 2, 32, args, res)
    with pytest.raises(BenchmarkError, match="unknown backend"):
        bt.select_backends("fused,nope", torch.device("cpu"), False)
    with pytest.raises(BenchmarkError, match="at least one plain backend"):
        bt.select_backends("fused", torch.device("cpu"), False)
    assert "reference" not in bt.select_backends(None, torch.device("cuda"), True)


def _gpu_row(op, pass_, **kw):
    row = {"op": op, "impl": "fused", "pass": pass_, "device": "cuda:0", "threads": None, "N": 1920, "H": 128,
           "W": 128, "k": 3, "dtype": "float16", "mask_dtype": "uint8", "time_s": {"median": 1e-4}, "gbps": 2500.0,
           "loadavg_1m": 0.0, "speedup": {}}
    row.update(kw)
    return row


def test_feature_gpu_target_lines_from_rows():
    # the GPU targets are judged from the rows alone, so their logic is testable without a GPU
    from benchmarks import bench_gait_edge_align as be
    from benchmarks import bench_gait_synthesis as bs

    res = Results("gait_synthesis", [torch.device("cpu")])
    bs.target_rows(res, [_gpu_row("gait_synthesis", "fwd", copy_fraction=0.83),
                         _gpu_row("gait_synthesis", "fwd", dtype="float32", copy_fraction=0.79)])
    met = [t["met"] for t in res.data["targets"]]
    assert met == [True, False] and "83 %" in res.data["targets"][0]["measured"]

    res = Results("gait_edge_align", [torch.device("cpu")])
    be.target_rows(res, [_gpu_row("gait_edge_align", "fwd+bwd",
                                  speedup={"opengait": {"ratio_of_medians": 31.0, "paired": 30.5}}),
                         _gpu_row("gait_edge_align", "fwd+bwd", dtype="float32", speedup={})])
    t = res.data["targets"]
    assert [x["met"] for x in t] == [True, None] and "31.0×" in t[0]["measured"] and "not measured" in t[1]["measured"]
    # the target points themselves: CPU keeps its one point, CUDA gets the N=1920 pair
    assert be.target_points(torch.device("cpu")) == [(1024, 128, 128, 3, torch.float32, torch.uint8)]
    assert {p[0] for p in bs.target_points(torch.device("cuda"))} == {1920}


def test_exception_cpu_target_lines_without_baselines():
    # `--target --impls fused` times no baseline: the target lines say so instead of crashing
    from benchmarks import bench_gait_edge_align as be
    from benchmarks import bench_gait_synthesis as bs

    cpu = dict(device="cpu", threads=2, N=1024, dtype="float32", speedup={})
    res = Results("gait_edge_align", [torch.device("cpu")])
    be.target_rows(res, [_gpu_row("gait_edge_align", "fwd+bwd", **cpu)])
    bs.target_rows(res, [_gpu_row("gait_synthesis", "fwd+bwd", **cpu)])
    t = res.data["targets"]
    assert len(t) == 3 and all(x["met"] is None and "not measured" in x["measured"] for x in t)


def test_feature_gaitedge_bench_target_passes_the_device():
    from benchmarks.suite import _op_args, build_parser

    a = build_parser().parse_args(["--target", "--device", "cuda"])
    argv = _op_args("gait_edge_align", a, Path("out"))
    assert argv[argv.index("--device") + 1] == "cuda" and "--target" in argv


def test_smoke_raw_ops_script(tmp_path):
    from benchmarks import bench_raw_ops

    data = bench_raw_ops.main(["--device", "cpu", "--N", "3", "--size", "24", "--budget", "0.02",
                               "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "raw_ops_cpu.json").read_text())
    assert saved["rows"] == data["rows"] and saved["meta"]["devices"][0]["device"] == "cpu"
    names = [r["name"] for r in data["rows"]]
    assert "gait_edge_align bwd (op)" in names and "gait_edge_align fwd+bwd (autograd)" in names
    copy = data["rows"][names.index("copy of one prob map")]
    assert copy["copy_fraction"] == pytest.approx(1.0) and copy["bytes"] == 2 * 3 * 24 * 24 * 4
    for r in data["rows"]:
        assert 0 < r["min"] <= r["median"] and r["gbps"] == pytest.approx(r["bytes"] / r["median"] / 1e9)
    assert "| gait_synthesis bwd (op) |" in (tmp_path / "raw_ops_cpu.md").read_text()
    with pytest.raises(SystemExit):
        bench_raw_ops.main(["--device", "cpu", "--N", "0"])
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit, match="--device 'cuda'"):
            bench_raw_ops.main(["--device", "cuda"])
    # --once (the program ncu profiles): every raw op, the backward ops included, and nothing written
    once = bench_raw_ops.main(["--device", "cpu", "--N", "2", "--size", "16", "--once", "--out", str(tmp_path / "o")])
    assert once["called"] == [n for n in names if n.endswith("(op)")] and len(once["called"]) == 4
    assert not (tmp_path / "o").exists()
