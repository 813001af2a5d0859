"""The benchmarks have one home, the checkout's ``benchmarks`` package, run as ``python -m benchmarks.<script>``:
nothing edits ``sys.path``, ``gaitedge bench`` launches the suite there, and the timing scripts run as modules."""

import json
import re
from pathlib import Path

import pytest

import gaitedge.bench as launcher

ROOT = Path(__file__).resolve().parents[1]
# an edit of the import path: a call on sys.path, an (augmented) assignment to it or a slice of it, a site dir
SYS_PATH_EDIT = re.compile(r"sys\.path\s*(\.\s*(insert|append|extend|remove|pop|clear)\s*\(|(\[[^\]]*\])?\s*\+?=(?!=))"
                           r"|site\.addsitedir")


def test_sys_path_edit_pattern():
    for edit in ("sys.path.insert(0, root)", "sys.path.append(str(ROOT))", "sys.path[:0] = [root]",
                 "sys.path += [root]", "sys.path = [root] + sys.path", "site.addsitedir(root)"):
        assert SYS_PATH_EDIT.search(edit), edit
    assert not SYS_PATH_EDIT.search("if sys.path == before: pass")


@pytest.mark.parametrize("folder", ["benchmarks", "gaitedge"])
def test_no_module_edits_sys_path(folder):
    offenders = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
                 for p in sorted((ROOT / folder).rglob("*.py"))
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if SYS_PATH_EDIT.search(line)]
    assert offenders == []


def test_the_old_homes_of_the_benchmark_code_are_gone():
    for old in ("benchmarks/common.py", "gaitedge/models/_timing.py", "gaitedge/data/synth/bench.py"):
        assert not (ROOT / old).exists(), old


def test_launcher_finds_this_checkout():
    assert launcher.find_checkout() == ROOT


def test_exception_launcher_without_a_checkout(tmp_path, capsys, monkeypatch):
    package = tmp_path / "site-packages" / "gaitedge"
    package.mkdir(parents=True)
    with pytest.raises(launcher.BenchSetupError, match=r"no benchmarks/suite\.py .*pip install -e \."):
        launcher.find_checkout(package)
    monkeypatch.setattr(launcher, "_PACKAGE_DIR", package)
    assert launcher.main(["--tiny"]) == 2
    assert "ship with the source checkout only" in capsys.readouterr().err


def test_launcher_makes_a_relative_out_absolute(tmp_path):
    argv = ["--tiny", "--out", "res", "--only", "train_step", "--out=other/dir"]
    assert launcher._absolute_out(argv, tmp_path) == [
        "--tiny", "--out", str(tmp_path / "res"), "--only", "train_step", f"--out={tmp_path / 'other/dir'}"]
    assert launcher._absolute_out(["--out", "/abs"], tmp_path) == ["--out", "/abs"]


def test_launcher_runs_the_suite_and_returns_its_exit_code(capfd):
    assert launcher.main(["--", "--only", "nonsense"]) == 2
    assert "unknown benchmark(s) ['nonsense']" in capfd.readouterr().err


def test_smoke_model_timing_module(tmp_path):
    pytest.importorskip("gaitedge.ops", reason="gaitedge._C is not built")
    from benchmarks import bench_models

    out = tmp_path / "t.json"
    bench_models.main(["--models", "GaitSet", "-n", "1", "-s", "2", "--repeats", "2", "--json", str(out)])
    data = json.loads(out.read_text())
    (row,) = data["results"]
    assert row["model"] == "GaitSet" and row["params"] > 0 and data["metadata"]["repeats"] == 2
    assert 0 < row["forward_s_min"] <= row["forward_s_median"] and 0 < row["fwd_bwd_s_min"] <= row["fwd_bwd_s_median"]


def test_smoke_synthgait_timing_module(capsys):
    from benchmarks import bench_synthgait

    bench_synthgait.main(["--sequences", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["indoor", "outdoor"]
    assert all(re.fullmatch(r"\w+: \d+ frames in memory: \d+ frames/s wall, \d+ frames/s CPU", x) for x in lines)
    with pytest.raises(SystemExit):
        bench_synthgait.main(["--out", "somewhere"])  # --out is where --disk writes

