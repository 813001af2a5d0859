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
    assert tm.parse_levels("1:plain, 1,4,all") == [(1, False), (1, True), (4, True), (None, True)]
    assert [tm.level_text(v) for v in tm.parse_levels("all:plain,16")] == ["all:plain", "16"]
    for bad, match in (("1", "two distinct"), ("1,1", "two distinct"), ("0,4", "outside"), ("x,4", "'x'"),
                       ("", "two distinct"), ("4,-2", "outside"), ("1:fancy,4", "suffix"),
                       ("1:plain,1:plain", "two distinct")):
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
    res = tm.run_transfer_map(tmp_path, [(1, False), (1, True), (None, True)], seed=5, resume=True)
    assert calls == [("pool-1-plain", "demo", "map", 5, {"backgrounds": 1},
                      {"Segmentation": ["data.train.colour_augment=null"]}),
                     ("pool-all", "demo", "map", 5, {"backgrounds": None}, None)]
    assert [(r["backgrounds"], r["colour_augment"]) for r in res["rows"]] == [(1, False), (1, True), (None, True)]
    assert [r["miou_cross"] for r in res["rows"]] == [30.0, 50.0, 90.0]
    assert res["rows"][1][tm.DIFFERENCES[0]] == {"mean": -4.0, "ci": [-6.0, -2.0]}
    report = (tmp_path / "report.md").read_text()
    assert "| 1 | 95.0 | 50.0 | -4.0 [-6.0, -2.0]" in report and "| all | 95.0 | 90.0 | +3.0" in report
    assert "| 1:plain | 95.0 | 30.0 |" in report
    assert json.loads((tmp_path / "results.json").read_text())["levels"] == ["1:plain", "1", "all"]
    pytest.importorskip("matplotlib")
    assert (tmp_path / "transfer_map.png").stat().st_size > 1000


def test_refuses_a_non_empty_folder_without_resume(tmp_path):
    (tmp_path / "x").write_text("keep")
    with pytest.raises(FileExistsError, match="--resume"):
        tm.run_transfer_map(tmp_path, [(1, True), (2, True)])
    assert (tmp_path / "x").read_text() == "keep"


@pytest.mark.parametrize("levels", ["1", "a,b", "0,1", "1,1,2", "1:x,2"])
def test_cli_names_bad_levels(levels, capsys, tmp_path):
    assert main(["transfer-map", "--out", str(tmp_path / "m"), "--levels", levels]) == 2
    err = capsys.readouterr().err
    assert "--levels" in err and "Traceback" not in err and not (tmp_path / "m").exists()
