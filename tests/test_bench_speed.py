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
    assert [r["impl"] for r in data["rows"]] == ["eager", "eager+block-cache", "batched"]
    assert data["rows"][2]["correct"]["max_abs_err_over_max_vs_eager"] <= bench_embed.TOL
    eager, cached, batched = data["rows"]
    assert cached["gflop"] == eager["gflop"] and "against eager with the block cache too" in data["targets"][0]["measured"]
    # both sides do the same convolutions except the sub-pixel decoder's 4/9, so the batched side counts fewer
    assert 0 < batched["gflop"] < eager["gflop"]
    target = data["targets"][0]
    peak, bound = target["roofline"]["conv_peak"]["gflops"], target["roofline"]["bound"]
    assert bound == pytest.approx(eager["time_s"]["median"] / (batched["gflop"] / peak))
    assert "against a peak of" in target["measured"]


def test_embed_without_roofline(tmp_path):
    from benchmarks import bench_embed_batching as bench_embed

    bench_embed.main(["--n", "2", "--frames", "2", "--batch", "2", "--threads", "1", "--no-roofline",
                      "--out", str(tmp_path), *TINY])
    data = json.loads((tmp_path / "embed_batching.json").read_text())
    assert "roofline" not in data["targets"][0] and all("gflop" not in r for r in data["rows"])


def test_unet_inference_checks_then_times_whole_and_sliced(tmp_path):
    from benchmarks import bench_unet_inference as bench_unet

    # 40 frames of 32x32 at a tiny budget: slices of at least UNet.MIN_SLICE = 16 frames, so two of 20
    bench_unet.main(["--cases", "tiny:8-16:32:40", "--mib", "0.1", "--threads", "1", "--budget", "0",
                     "--min-runs", "1", "--no-memory", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "unet_inference.json").read_text())
    whole, sliced, fast = data["rows"]
    assert (whole["impl"], sliced["impl"], fast["impl"]) == ("whole", "sliced", "sliced+subpixel")
    assert sliced["slices"] == fast["slices"] == 2 and whole["slices"] == 1 and sliced["min_slice_frames"] == 16
    assert sliced["correct"]["bit_identical_to_whole"] and sliced["correct"]["max_abs_diff_vs_whole"] == 0.0
    assert 0 < fast["correct"]["max_abs_diff_vs_whole"] <= 1e-5  # re-associated, not the same bits
    assert fast["speedup"]["whole"]["ratio_of_medians"] > 0 and whole["rate_unit"] == "frames/s"
    # the sub-pixel decoder does 4/9 of the upsampled convolutions' work; slicing does the same work
    assert whole["gflop"] == sliced["gflop"] > fast["gflop"] > 0 and fast["gflops_per_s"] > 0
    assert list(data["conv_peak"]) == ["cpu/1t"] and data["conv_peak"]["cpu/1t"]["gflops"] > 0


@pytest.mark.parametrize("spec", ["tiny:8-16:31:40", "tiny:8:32:40", "tiny:8-16:32", "tiny:a-b:32:4", "t:8-16:32:0"])
def test_unet_inference_bad_cases_named(spec, capsys):
    from benchmarks import bench_unet_inference as bench_unet

    with pytest.raises(SystemExit) as e:
        bench_unet.main(["--cases", spec, "--out", "/nonexistent"])
    assert e.value.code == 2 and "--cases" in capsys.readouterr().err
