"""The README's main command at CI size: ``gaitedge demo --size tiny`` end to end, its schema, resume and configs."""

import json
import math
from pathlib import Path

import pytest
import torch

from gaitedge.cli import main
from gaitedge.study import DOMAINS, load_experiment, study_configs
from gaitedge.training.config import load_config

pytest.importorskip("gaitedge._C", reason="GaitEdge needs the compiled ops")

MODELS = ("GaitGL", "GaitGL-E2E", "GaitEdge", "GaitEdge-GT")
CONDS = ("NM", "BG", "CL", "RC", "mean")


EVENTS: list[str] = []  # the tiny demo's order of rendering a sequence ("render") and evaluating ("eval")


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    import gaitedge.study as study
    from gaitedge.data.synth import SynthGait

    def logged(event, fn):
        def wrapper(*args, **kwargs):
            EVENTS.append(event)
            return fn(*args, **kwargs)
        return wrapper

    out = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SynthGait, "sequence", logged("render", SynthGait.sequence))
        mp.setattr(study, "predict_segmenter", logged("eval", study.predict_segmenter))
        mp.setattr(study, "evaluate_model", logged("eval", study.evaluate_model))
        # HEAD moving while a study runs (a commit made meanwhile) must not show: the code ran is the code at start
        mp.setattr(study, "_commit", lambda: "later" if "eval" in EVENTS else "at-start")
        assert main(["demo", "--out", str(out), "--size", "tiny", "--seed", "3"]) == 0
    return out


def _results(out):
    return json.loads((out / "results.json").read_text())


def test_results_schema_and_values(demo_out):
    res = _results(demo_out)
    assert set(res["matrix"]) == set(res["ci"]) == set(MODELS)
    for model in MODELS:
        for tr in DOMAINS:
            for te in DOMAINS:
                cell, ci = res["matrix"][model][tr][te], res["ci"][model][tr][te]
                assert set(cell) == set(ci) == set(CONDS)
                for c in CONDS:
                    v, (lo, hi) = cell[c], ci[c]
                    assert isinstance(v, float) and math.isfinite(v) and 0.0 <= v <= 100.0
                    assert 0.0 <= lo <= hi <= 100.0
                assert cell["mean"] == pytest.approx((cell["NM"] + cell["BG"] + cell["CL"]) / 3, abs=0.02)
    for dom in DOMAINS:
        seg = res["segmenter"][dom]
        assert set(seg) == {"miou", "miou_cross", "all_foreground", "miou_control", "mask_miou_probes"}
        assert all(0.0 <= seg[k] <= 100.0 for k in ("miou", "miou_cross", "all_foreground", "miou_control"))
        assert set(seg["mask_miou_probes"]) == set(DOMAINS)
        assert all(set(v) == {"NM", "RC"} and all(0 <= x <= 100 for x in v.values())
                   for v in seg["mask_miou_probes"].values())
        assert 0.0 <= res["colour_baseline"][dom]["NM"] <= 100.0
    assert res["seed"] == 3 and res["test_subjects"] == 3 and res["seconds"] > 0
    for r in res["differences"].values():
        assert set(r) >= {"mean", "ci", "n"} and r["ci"][0] <= r["mean"] <= r["ci"][1]
    assert "GaitEdge - GaitGL-E2E, cross-domain, mean" in res["differences"]
    assert len(res["views"]) == 3  # identical views excluded: each probe view scored against 2 gallery views


def test_silhouette_model_scores_rc_exactly_as_nm(demo_out):
    # RC re-renders the NM#05-06 walks with other clothes and identical silhouettes: a model that sees only
    # silhouettes must give exactly the same rank-1, per subject and per cell
    res = _results(demo_out)
    for tr in DOMAINS:
        for te in DOMAINS:
            assert res["matrix"]["GaitGL"][tr][te]["RC"] == res["matrix"]["GaitGL"][tr][te]["NM"]
    for key in ("GaitGL, NM - RC, in-domain", "GaitGL, NM - RC, cross-domain"):
        assert res["differences"][key]["mean"] == 0.0 and res["differences"][key]["ci"] == [0.0, 0.0]


def test_report_written(demo_out):
    md = (demo_out / "report.md").read_text()
    assert md.startswith("# gaitedge demo")
    res = _results(demo_out)
    for model in MODELS:
        assert f"| {model} |" in md
    nm = res["matrix"]["GaitEdge"]["indoor"]["outdoor"]["NM"]
    assert f"{nm:.1f}" in md  # the table shows the JSON numbers
    assert "95 %" in md and "Colour-only baseline" in md and "all-foreground" in md
    split = res["time_split"]  # evaluation against training, in the report too
    assert split["eval"] > 0 and split["train"] > 0 and 0 < split["eval_share"] < 100
    assert f"evaluation {split['eval']:.0f} s ({split['eval_share']:.0f} % of the run)" in md
    assert any(k.startswith("segment/Segmentation/") for k in res["timings"])  # the shared segmenter passes


def test_thread_count_recorded(demo_out):
    from gaitedge.cli import default_threads

    n = default_threads()  # the fixture passes no --threads
    env = _results(demo_out)["environment"]
    assert env["threads"] == n
    assert env["aten_cpu_capability"] == torch.backends.cpu.get_cpu_capability() and env["cpu"]
    md = (demo_out / "report.md").read_text()
    assert f"({n} CPU threads, {env['cpu']}, ATen CPU capability {env['aten_cpu_capability']}," in md
    run_cfg = json.loads((demo_out / "runs" / "indoor" / "GaitGL" / "config.json").read_text())
    assert run_cfg["trainer"]["threads"] == n


def test_refuses_non_empty_out(demo_out, capsys):
    assert main(["demo", "--out", str(demo_out), "--size", "tiny"]) == 2
    assert "not empty" in capsys.readouterr().err


def test_resume_reuses_runs_and_evaluations(demo_out, tmp_path):
    import shutil

    copy = tmp_path / "resumed"  # a copy in another place: the finished runs are found relative to it
    shutil.copytree(demo_out, copy)
    (copy / "results.json").unlink()
    for f in (copy / "evals").glob("rec-GaitEdge-*"):
        f.unlink()  # as if killed during the evaluations: those cells are recomputed from the saved model
    hidden = demo_out / "runs-hidden"
    (demo_out / "runs").rename(hidden)  # the copy must read its own checkpoints, not the original's
    try:
        assert main(["demo", "--out", str(copy), "--size", "tiny", "--seed", "3", "--resume"]) == 0
    finally:
        hidden.rename(demo_out / "runs")
    before, after = _results(demo_out), _results(copy)
    assert after["matrix"] == before["matrix"] and after["ci"] == before["ci"]
    assert after["resumed"] and not any(k.startswith("train/") for k in after["timings"])


def test_resume_of_a_finished_study_runs_no_segmenter(demo_out, tmp_path):
    """Every figure of a finished study is on disk, the masks' quality on the probes included: resuming it
    trains nothing and runs no segmenter pass."""
    import shutil

    copy = tmp_path / "finished"
    shutil.copytree(demo_out, copy)
    assert main(["demo", "--out", str(copy), "--size", "tiny", "--seed", "3", "--resume"]) == 0
    before, after = _results(demo_out), _results(copy)
    assert after["segmenter"] == before["segmenter"] and after["matrix"] == before["matrix"]
    assert not any(k.startswith(("train/", "segment/", "eval/")) for k in after["timings"]), after["timings"]


def test_resume_into_a_new_folder_is_a_fresh_run(demo_out, tmp_path):
    # `make reproduce` always passes --resume; a run that found nothing to reuse must not be reported as continued,
    # and its numbers are those of the plain run of the same seed.
    out = tmp_path / "fresh"
    assert main(["demo", "--out", str(out), "--size", "tiny", "--seed", "3", "--resume"]) == 0
    res = _results(out)
    assert res["resumed"] is False and "continuing" not in (out / "report.md").read_text()
    assert res["matrix"] == _results(demo_out)["matrix"]


def test_configs_come_from_the_shipped_yaml():
    exp = load_experiment("demo", "default")
    cfgs = study_configs(exp, "indoor", 0)
    for name, shipped in (("Segmentation", "synth_phase1_seg"), ("GaitGL", "synth_phase1_rec"),
                          ("GaitEdge", "synth_phase2_gaitedge"), ("GaitGL-E2E", "synth_phase2_e2e")):
        base = load_config(shipped)
        for sec in ("model", "loss", "optimizer", "scheduler"):
            got = {k: v for k, v in cfgs[name][sec].items() if k != "init"}
            assert got == {k: v for k, v in base[sec].items() if k != "init"}, (name, sec)
        assert cfgs[name]["trainer"]["total_iter"] == base["trainer"]["total_iter"]
    # no model trains on the recolour probes
    assert all(not t.startswith("rc") for t in cfgs["GaitGL"]["data"]["train"]["types"])
    assert cfgs["GaitGL"]["data"]["synth"]["conditions"]["rc"] == 2


def test_gaitedge_gt_differs_from_gaitedge_only_in_its_masks():
    cfgs = study_configs(load_experiment("demo", "default"), "indoor", 0)
    gt, edge = cfgs["GaitEdge-GT"], cfgs["GaitEdge"]
    assert edge["model"]["kwargs"]["mask_source"] == "frozen"  # the paper's method is the default
    assert gt["model"]["kwargs"]["mask_source"] == "silhouette" and gt["model"]["name"] == "GaitEdge"
    assert dict(gt["model"]["kwargs"], mask_source="frozen") == edge["model"]["kwargs"]
    assert edge["model"]["init"][:2] == gt["model"]["init"]
    assert edge["model"]["init"][2] == {"from": "Segmentation", "prefix": "Frozen."}
    assert {k: v for k, v in gt.items() if k not in ("name", "model")} == \
        {k: v for k, v in edge.items() if k not in ("name", "model")}  # same data, seed, losses, schedule


def test_per_subject_scores_are_those_behind_the_intervals(demo_out):
    # results.json keeps every cell's per-subject scores, so that seeds can be bootstrapped together later
    from gaitedge.evaluation.stats import bootstrap_ci
    from gaitedge.study import BOOT_SEED, N_BOOT

    res = _results(demo_out)
    for model in MODELS:
        for tr in DOMAINS:
            for te in DOMAINS:
                for c in CONDS:
                    scores = res["per_subject"][model][tr][te][c]
                    assert len(scores) == res["test_subjects"]
                    ci = bootstrap_ci(list(scores.values()), n_boot=N_BOOT, seed=BOOT_SEED)
                    assert [round(x, 2) for x in ci] == res["ci"][model][tr][te][c]


def test_geometric_control_is_reported(demo_out):
    res = _results(demo_out)
    g = res["geometric_control"]
    assert set(g) == set(MODELS)
    for m in MODELS:
        for tr in DOMAINS:
            row = g[m][tr]
            other = DOMAINS[1 - DOMAINS.index(tr)]
            assert row["test"] == f"{other}@{tr}-camera"
            assert row["in_domain"] == res["matrix"][m][tr][tr]["mean"]
            assert row["cross_domain"] == res["matrix"][m][tr][other]["mean"]
            assert row["appearance_drop"] == pytest.approx(row["in_domain"] - row["control"], abs=0.02)
            assert row["camera_drop"] == pytest.approx(row["control"] - row["cross_domain"], abs=0.02)
            lo, hi = row["camera_drop_ci"]
            assert lo <= row["camera_drop"] + 0.01 and row["camera_drop"] - 0.01 <= hi
    assert (demo_out / "evals" / "rec-GaitGL-indoor-outdoor@indoor-camera.json").is_file()
    assert "## Camera or appearance" in (demo_out / "report.md").read_text()


def test_commit_is_read_when_the_study_starts(demo_out):
    assert _results(demo_out)["environment"]["commit"] == "at-start"


def test_evaluation_renders_nothing(demo_out):
    """Every test set, the geometric controls included, is rendered before the first evaluation, so the
    evaluation's timings (and the report's time split) hold no rendering."""
    assert "eval" in EVENTS and "render" in EVENTS
    assert "render" not in EVENTS[EVENTS.index("eval"):]
    timings = _results(demo_out)["timings"]
    for tr in DOMAINS:
        other = DOMAINS[1 - DOMAINS.index(tr)]
        assert timings[f"synth/{other}@{tr}-camera"] > 0


def test_targets_are_reported(demo_out):
    res = _results(demo_out)
    whats = [t["what"] for t in res["targets"]]
    assert len(whats) == 10 and any("other-domain mIoU" in w for w in whats) and any("RC rank-1" in w for w in whats)
    assert all(isinstance(t["met"], bool) and t["goal"] for t in res["targets"])
    assert "## Requirements on the world" in (demo_out / "report.md").read_text()


def test_no_data_of_the_other_domain_reaches_training(demo_out):
    """Every phase-1 and phase-2 run of a domain trained on that domain's data, with its own camera, and started
    from that domain's phase-1 checkpoints only."""
    for dom in DOMAINS:
        runs = sorted((demo_out / "runs" / dom).iterdir())
        assert {r.name for r in runs} == {"Segmentation", *MODELS}
        for run in runs:
            cfg = json.loads((run / "config.json").read_text())
            synth = cfg["data"]["synth"]
            assert synth["domain"] == dom and synth.get("camera") in (None, dom), run
            for init in cfg["model"].get("init") or []:
                if init.get("path"):
                    assert (demo_out / "runs" / dom).resolve() in Path(init["path"]).resolve().parents, (run, init)
