"""The README's main command at CI size: ``gaitedge demo --size tiny`` end to end (about 2-3 minutes on 2 cores)."""

import json
import math

import pytest

from gaitedge.cli import main
from gaitedge.demo import DOMAINS, MODELS

pytest.importorskip("gaitedge._C", reason="GaitEdge needs the compiled ops")


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out), "--size", "tiny"]) == 0
    return out


def test_results_schema_and_values(demo_out):
    res = json.loads((demo_out / "results.json").read_text())
    assert set(res["matrix"]) == set(MODELS) == {"GaitGL", "GaitGL-E2E", "GaitEdge"}
    for model in MODELS:
        assert set(res["matrix"][model]) == set(DOMAINS)
        for tr in DOMAINS:
            assert set(res["matrix"][model][tr]) == set(DOMAINS)
            for te in DOMAINS:
                cell = res["matrix"][model][tr][te]
                assert set(cell) == {"NM", "BG", "CL", "mean"}
                for v in cell.values():
                    assert isinstance(v, float) and math.isfinite(v) and 0.0 <= v <= 100.0
                assert cell["mean"] == pytest.approx((cell["NM"] + cell["BG"] + cell["CL"]) / 3, abs=0.02)
    assert res["size"] == "tiny" and res["seconds"] > 0
    assert all(0.0 <= v <= 100.0 for v in res["segmentation_miou"].values())
    # identical views are excluded: with 3 views each probe view is scored against 2 gallery views
    assert len(res["views"]) == 3


def test_report_written(demo_out):
    md = (demo_out / "report.md").read_text()
    assert md.startswith("# gaitedge demo")
    for model in MODELS:
        assert model in md
    res = json.loads((demo_out / "results.json").read_text())
    nm = res["matrix"]["GaitEdge"]["indoor"]["outdoor"]["NM"]
    assert f"{nm:.2f}" in md  # the table shows the JSON numbers


def test_thread_count_recorded(demo_out):
    from gaitedge.cli import default_threads

    n = default_threads()  # the fixture passes no --threads
    assert json.loads((demo_out / "results.json").read_text())["environment"]["threads"] == n
    assert f"({n} CPU threads" in (demo_out / "report.md").read_text()
    run_cfg = json.loads((demo_out / "runs" / "indoor" / "GaitGL" / "config.json").read_text())
    assert run_cfg["trainer"]["threads"] == n


def test_refuses_non_empty_out(demo_out, capsys):
    assert main(["demo", "--out", str(demo_out), "--size", "tiny"]) == 2
    assert "not empty" in capsys.readouterr().err


def test_gt_masks_config_differs_from_gaitedge_only_in_mask_source():
    from gaitedge.demo import DEMO_SIZES, GT_MODEL, demo_configs, synth_spec

    sz = DEMO_SIZES["tiny"]
    plain = demo_configs(sz, synth_spec(sz, "indoor", 0), seed=0)
    cfgs = demo_configs(sz, synth_spec(sz, "indoor", 0), seed=0, gt_masks=True)
    assert GT_MODEL not in plain and set(cfgs) == set(plain) | {GT_MODEL}
    gt, edge = cfgs[GT_MODEL], cfgs["GaitEdge"]
    assert edge["model"]["kwargs"]["mask_source"] == "segmentation"  # the default demo is unchanged
    assert gt["model"]["kwargs"]["mask_source"] == "silhouette" and gt["model"]["name"] == "GaitEdge"
    gt_kw = dict(gt["model"]["kwargs"], mask_source="segmentation")
    assert gt_kw == edge["model"]["kwargs"]
    assert {k: v for k, v in gt.items() if k not in ("name", "model")} == \
        {k: v for k, v in edge.items() if k not in ("name", "model")}  # same data, seed, losses, schedule
