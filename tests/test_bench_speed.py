"""Smoke tests of the whole-model speed benchmarks: each checks its sides agree before timing, and says so."""

import json

import pytest

from benchmarks.harness import BenchmarkError

pytest.importorskip("gaitedge._C", reason="GaitEdge needs the compiled ops")

TINY = ["--budget", "0", "--min-runs", "1", "--no-memory", "--size", "64"]


def test_best_step_checks_then_times_three_sides(tmp_path):
    from benchmarks import bench_best_step

    bench_best_step.main(["--P", "2", "--K", "2", "--frames", "3", "--threads", "1", "--out", str(tmp_path), *TINY])
    data = json.loads((tmp_path / "best_step.json").read_text())
    assert [r["impl"].split(" ")[0] for r in data["rows"]] == ["opengait", "gaitedge", "gaitedge-frozen"]
    check = data["rows"][1]["correct"]
    assert check["loss_rel"] <= bench_best_step.TOL["loss"] and check["grads_worst_rel"] <= bench_best_step.TOL["grads"]
    assert "≥ 1.5×" in data["targets"][0]["goal"]


def test_best_step_refuses_sides_that_disagree(tmp_path, monkeypatch):
    from benchmarks import bench_best_step

    monkeypatch.setitem(bench_best_step.TOL, "loss", 0.0)
    monkeypatch.setitem(bench_best_step.TOL, "embeddings", 0.0)
    with pytest.raises(BenchmarkError, match="differ by"):
        bench_best_step.main(["--P", "2", "--K", "2", "--frames", "3", "--threads", "1", "--out", str(tmp_path),
                              *TINY])


def test_embed_checks_then_times(tmp_path):
    from benchmarks import bench_embed_batching as bench_embed

    bench_embed.main(["--n", "3", "--frames", "3", "--batch", "2", "--threads", "1", "--out", str(tmp_path), *TINY])
    data = json.loads((tmp_path / "embed_batching.json").read_text())
    assert [r["impl"] for r in data["rows"]] == ["eager", "batched"]
    assert data["rows"][1]["correct"]["max_abs_err_over_max_vs_eager"] <= bench_embed.TOL
