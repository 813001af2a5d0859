"""Experiment files: every preset builds, and phase-2 models can start from the phase-1 runs they name."""

import pytest
import torch

from gaitedge.study import DOMAINS, EXPERIMENT_DIR, load_experiment, study_configs
from gaitedge.training.builders import build_model
from gaitedge.training.config import ConfigError, read_yaml_file

pytest.importorskip("gaitedge._C", reason="GaitEdge needs the compiled ops")

PRESETS = [(p.stem, name) for p in sorted(EXPERIMENT_DIR.glob("*.yaml"))
           for name in read_yaml_file(p)["presets"]]


@pytest.mark.parametrize("experiment,preset", PRESETS)
def test_every_preset_builds_and_phase2_init_fits_phase1(experiment, preset):
    exp = load_experiment(experiment, preset)
    cfgs = study_configs(exp, DOMAINS[0], seed=0)
    built = {name: build_model(dict(cfg["model"], init=[]), num_classes=7) for name, cfg in cfgs.items()}
    for name, cfg in cfgs.items():
        own = built[name].state_dict()
        assert cfg["data"]["synth"]["subjects"] == exp["data"]["subjects"]
        for entry in cfg["model"].get("init") or []:
            src = built[entry["from"]].state_dict()
            prefix = entry.get("prefix", "")
            for k, v in src.items():
                assert prefix + k in own, (name, entry, k)
                assert own[prefix + k].shape == v.shape, (name, entry, k, tuple(own[prefix + k].shape), tuple(v.shape))


def test_unknown_experiment_and_preset_are_named():
    with pytest.raises(ConfigError, match="nosuch"):
        load_experiment("nosuch", "default")
    with pytest.raises(ConfigError, match="preset 'huge'"):
        load_experiment("demo", "huge")


def test_reproduce_combines_seeds_into_mean_and_sd():
    import json
    from pathlib import Path

    from gaitedge.reproduce import combine_seeds, combined_markdown

    root = Path(__file__).resolve().parents[1] / "docs" / "results" / "demo"
    per_seed = {s: json.loads((root / f"seed-{s}" / "results.json").read_text()) for s in (0, 1)}
    res = combine_seeds(per_seed)
    assert res["seeds"] == [0, 1]
    a, b = (per_seed[s]["matrix"]["GaitEdge"]["indoor"]["outdoor"]["mean"] for s in (0, 1))
    mean, sd = res["matrix_mean_sd"]["GaitEdge"]["indoor"]["outdoor"]["mean"]
    assert mean == pytest.approx((a + b) / 2, abs=0.01)
    assert sd == pytest.approx(abs(a - b) / 2 ** 0.5, abs=0.01)  # sample sd of two values
    key = "GaitEdge - GaitGL-E2E, cross-domain, mean"
    assert res["differences_mean_sd"][key][0] == pytest.approx(
        (per_seed[0]["differences"][key]["mean"] + per_seed[1]["differences"][key]["mean"]) / 2, abs=0.01)
    # the summary: each model's mean over the two training domains, in-domain and across, and its NM - RC gaps
    cross = [(per_seed[s]["matrix"]["GaitGL-E2E"]["indoor"]["outdoor"]["mean"]
              + per_seed[s]["matrix"]["GaitGL-E2E"]["outdoor"]["indoor"]["mean"]) / 2 for s in (0, 1)]
    summary = res["summary"]["GaitGL-E2E"]
    assert summary["cross_domain"] == pytest.approx([sum(cross) / 2, abs(cross[0] - cross[1]) / 2 ** 0.5], abs=0.01)
    gaps = [per_seed[s]["differences"]["GaitGL-E2E, NM - RC, cross-domain"]["mean"] for s in (0, 1)]
    assert summary["nm_rc_cross_domain"][0] == pytest.approx(sum(gaps) / 2, abs=0.01)
    assert res["summary"]["GaitGL"]["nm_rc_in_domain"] == [0.0, 0.0]  # silhouette-only: RC is NM exactly
    md = combined_markdown(res, "gaitedge reproduce --out x --seeds 0,1")
    assert "seeds [0, 1]" in md and key in md and "gaitedge reproduce --out x" in md
    assert f"| GaitGL-E2E | {summary['in_domain'][0]:.1f} ± {summary['in_domain'][1]:.1f} | " in md


def test_reports_name_the_cpu_and_its_instruction_set():
    # Float training on a CPU repeats bit for bit only on the same instruction set, so reports say which one ran;
    # results written before these fields existed still render.
    from gaitedge.evaluation.report import machine_text

    env = {"threads": 2, "torch": "2.13.0+cpu", "commit": "abc1234", "device": "cpu"}
    assert machine_text(env) == "2 CPU threads, torch 2.13.0+cpu, commit abc1234"
    env.update(cpu="Intel(R) Xeon(R) Processor", aten_cpu_capability="AVX512")
    assert machine_text(env) == ("2 CPU threads, Intel(R) Xeon(R) Processor, ATen CPU capability AVX512, "
                                 "torch 2.13.0+cpu, commit abc1234")


def test_world_targets_say_what_is_met():
    from gaitedge.study import world_targets

    seg = {"indoor": {"miou": 95.0, "miou_cross": 88.0}, "outdoor": {"miou": 91.0, "miou_cross": 82.0}}
    colour = {"indoor": {"NM": 25.0, "RC": 0.0}, "outdoor": {"NM": 40.0, "RC": 6.0}}
    got = {t["what"]: t["met"] for t in world_targets(seg, colour, test_subjects=20)}
    assert got == {
        "segmenter indoor: own-domain mIoU": True, "segmenter indoor: other-domain mIoU": True,
        "segmenter indoor: own - other": True, "segmenter outdoor: own-domain mIoU": True,
        "segmenter outdoor: other-domain mIoU": False, "segmenter outdoor: own - other": False,
        "colour baseline indoor: NM rank-1": True, "colour baseline indoor: RC rank-1 (chance 5.0)": False,
        "colour baseline outdoor: NM rank-1": False, "colour baseline outdoor: RC rank-1 (chance 5.0)": True,
    }


def test_geometric_split_separates_camera_from_appearance():
    from gaitedge.study import DOMAINS, geometric_split

    def cell(mean, per):
        return {"summary": {"NM": mean, "BG": mean, "CL": mean, "mean": mean},
                "per_subject": {c: dict(per) for c in ("NM", "BG", "CL", "mean")}}

    full = {"M": {"indoor": {"indoor": cell(60.0, {"a": 60}), "outdoor": cell(30.0, {"x": 20.0, "y": 40.0})},
                  "outdoor": {"outdoor": cell(50.0, {"x": 50}), "indoor": cell(40.0, {"a": 40.0, "b": 40.0})}}}
    control = {"M": {"indoor": cell(45.0, {"x": 40.0, "y": 50.0}), "outdoor": cell(40.0, {"a": 40.0, "b": 40.0})}}
    g = geometric_split(full, control, ["M"])["M"]
    assert g["indoor"]["test"] == "outdoor@indoor-camera" and g["outdoor"]["test"] == "indoor@outdoor-camera"
    assert (g["indoor"]["appearance_drop"], g["indoor"]["camera_drop"]) == (15.0, 15.0)
    assert g["indoor"]["camera_drop_ci"] == [10.0, 20.0]  # per-subject differences 20 and 10
    assert (g["outdoor"]["appearance_drop"], g["outdoor"]["camera_drop"], g["outdoor"]["camera_drop_ci"]) == (
        10.0, 0.0, [0.0, 0.0])
    assert set(g["indoor"]["matrix"]) == {"NM", "BG", "CL", "mean"} and set(DOMAINS) == set(g)
