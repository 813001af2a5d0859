"""gaitedge transfer-map: levels, resume, the table and the figure (studies faked; the tiny demo covers a real one)."""

import json

import pytest

import gaitedge.transfer_map as tm
from gaitedge.cli import main
from gaitedge.study import DOMAINS


def _fake_study(backgrounds, cross, edge_minus_e2e):
    env = {"threads": 2, "torch": "x", "device": "cpu", "commit": "abc"}
    return {"segmenter": {d: {"miou": 95.0, "miou_cross": cross + (1 if d == "indoor" else -1)} for d in DOMAINS},
            "differences": {tm.DIFFERENCES[0]: {"mean": edge_minus_e2e, "ci": [edge_minus_e2e - 2, edge_minus_e2e + 2]},
                            tm.DIFFERENCES[1]: {"mean": -1.0, "ci": [-3.0, 1.0]}},
            "data": {"subjects": 50, "backgrounds": backgrounds}, "seconds": 60.0, "environment": env}


def test_parse_levels():
    assert tm.parse_levels("1:plain, 1,4,all") == [(1, False, None), (1, True, None), (4, True, None),
                                                   (None, True, None)]
    assert tm.parse_levels("1:plain:ids=2,1:ids=3:plain,all:ids=1") == [(1, False, 2), (1, False, 3), (None, True, 1)]
    assert [tm.level_text(v) for v in tm.parse_levels("all:plain,16,2:ids=4")] == ["all:plain", "16", "2:ids=4"]
    assert tm.parse_levels(",".join(tm.level_text(v) for v in tm.DEFAULT_LEVELS)) == list(tm.DEFAULT_LEVELS)
    for bad, match in (("1", "two distinct"), ("1,1", "two distinct"), ("0,4", "outside"), ("x,4", "'x'"),
                       ("", "two distinct"), ("4,-2", "outside"), ("1:fancy,4", "suffix"),
                       ("1:plain,1:plain", "two distinct"), ("1:plain:plain,4", "suffix"), ("1:ids=0,4", "outside"),
                       ("1:ids=x,4", "ids="), ("1:ids=2:ids=3,4", "suffix"), ("1:ids=,4", "ids=")):
        with pytest.raises(ValueError, match=match):
            tm.parse_levels(bad)


def test_map_runs_missing_levels_and_reuses_finished_ones(tmp_path, monkeypatch):
    (tmp_path / "pool-1").mkdir()
    (tmp_path / "pool-1" / "results.json").write_text(json.dumps(_fake_study(1, 50.0, -4.0)))
    calls = []

    def fake_run_study(out, experiment, preset, seed, resume, threads, device, data, overrides):
        calls.append((out.name, experiment, preset, seed, data, overrides))
        return _fake_study(data["backgrounds"], 30.0 if overrides else 90.0, 3.0)

    monkeypatch.setattr(tm, "run_study", fake_run_study)
    res = tm.run_transfer_map(tmp_path, [(1, False, 2), (1, False), (1, True), (None, True)], seed=5, resume=True)
    assert calls == [("pool-1-plain-ids2", "demo", "map", 5, {"backgrounds": 1},
                      {"Segmentation": ["data.train.colour_augment=null", "data.train.subjects=2",
                                        "data.train.P=2", "data.train.K=4"]}),
                     ("pool-1-plain", "demo", "map", 5, {"backgrounds": 1},
                      {"Segmentation": ["data.train.colour_augment=null"]}),
                     ("pool-all", "demo", "map", 5, {"backgrounds": None}, None)]
    assert [(r["backgrounds"], r["colour_augment"], r["phase1_subjects"]) for r in res["rows"]] == [
        (1, False, 2), (1, False, None), (1, True, None), (None, True, None)]
    assert [r["miou_cross"] for r in res["rows"]] == [30.0, 30.0, 50.0, 90.0]
    assert res["rows"][2][tm.DIFFERENCES[0]] == {"mean": -4.0, "ci": [-6.0, -2.0]}
    report = (tmp_path / "report.md").read_text()
    assert "| 1 | 95.0 | 50.0 | -4.0 [-6.0, -2.0]" in report and "| all | 95.0 | 90.0 | +3.0" in report
    assert "| 1:plain | 95.0 | 30.0 |" in report and "| 1:plain:ids=2 | 95.0 | 30.0 |" in report
    assert json.loads((tmp_path / "results.json").read_text())["levels"] == ["1:plain:ids=2", "1:plain", "1", "all"]
    pytest.importorskip("matplotlib")
    assert (tmp_path / "transfer_map.png").stat().st_size > 1000


def test_refuses_a_non_empty_folder_without_resume(tmp_path):
    (tmp_path / "x").write_text("keep")
    with pytest.raises(FileExistsError, match="--resume"):
        tm.run_transfer_map(tmp_path, [(1, True), (2, True)])
    assert (tmp_path / "x").read_text() == "keep"


def test_phase1_overrides_keep_the_batch_size():
    """``:ids=N`` below the shipped P draws N ids with more sequences each; at or above it only the subjects change."""
    assert tm.phase1_overrides((4, True)) == []
    assert tm.phase1_overrides((1, True, 8)) == ["data.train.subjects=8"]
    assert tm.phase1_overrides((1, True, 3)) == ["data.train.subjects=3", "data.train.P=3", "data.train.K=3"]
    assert tm.phase1_overrides((1, True, 1)) == ["data.train.subjects=1", "data.train.P=1", "data.train.K=8"]


@pytest.mark.parametrize("levels", ["1", "a,b", "0,1", "1,1,2", "1:x,2", "1:ids=0,2"])
def test_cli_names_bad_levels(levels, capsys, tmp_path):
    assert main(["transfer-map", "--out", str(tmp_path / "m"), "--levels", levels]) == 2
    err = capsys.readouterr().err
    assert "--levels" in err and "Traceback" not in err and not (tmp_path / "m").exists()


def test_a_level_with_few_ids_trains_phase1_on_those_ids_only():
    """The overrides go through the study's own config path: phase 1 sees 2 ids, the recognisers all of them."""
    from gaitedge.data.builders import build_train_data
    from gaitedge.study import load_experiment, study_configs

    exp = load_experiment("demo", "tiny")
    exp["overrides"] = dict(exp.get("overrides") or {}, Segmentation=[
        *(exp.get("overrides") or {}).get("Segmentation", []), *tm.phase1_overrides((1, False, 2))])
    cfgs = study_configs(exp, "indoor", 0)
    _, sampler, collate, n = build_train_data(cfgs["Segmentation"]["data"], ("rgbs", "sils"), seed=0)
    assert n == 2 and (sampler.P, sampler.K) == (2, 4) and collate.sequence_transform is None
    _, _, _, n_all = build_train_data(cfgs["GaitGL"]["data"], ("aligned_sils",), seed=0)
    assert n_all == exp["data"]["subjects"] - exp["data"]["test_subjects"]
