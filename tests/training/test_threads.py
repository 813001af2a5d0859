"""CPU thread count: explicit, the same default under any load, recorded in what train / eval / demo write."""

import copy
import json
import os

import pytest
import torch

from gaitedge.cli import main


@pytest.fixture(autouse=True)
def _keep_thread_count():
    # torch.set_num_threads is process-wide: later tests must not inherit what these set
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _tiny_cfg(total_iter: int = 3) -> dict:
    from gaitedge.study import load_experiment, study_configs

    cfg = copy.deepcopy(study_configs(load_experiment("demo", "tiny"), "indoor", 0)["GaitGL"])
    cfg["trainer"].update(total_iter=total_iter, log_every=0)
    return cfg


def test_default_thread_count_does_not_follow_the_load(monkeypatch, tmp_path):
    import gaitedge.experiment
    import gaitedge.study

    seen = {"demo": [], "train": []}
    monkeypatch.setattr(gaitedge.study, "run_study", lambda out, *a, **kw: seen["demo"].append(kw.get("threads")) or {})

    def fake_train(cfg, out, **kw):
        seen["train"].append(cfg["trainer"].get("threads"))
        return {"checkpoint": None, "eval": None}

    monkeypatch.setattr(gaitedge.experiment, "train_from_config", fake_train)
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(_tiny_cfg()))
    for load in (0.0, 64.0):
        monkeypatch.setattr(os, "getloadavg", lambda load=load: (load, load, load))
        assert main(["demo", "--out", str(tmp_path / f"demo-{load}")]) == 0
        assert main(["train", "--config", str(cfg), "--out", str(tmp_path / f"run-{load}")]) == 0
    for cmd, counts in seen.items():
        assert len(counts) == 2 and isinstance(counts[0], int) and counts[0] >= 1, (cmd, counts)
        assert counts[0] == counts[1], f"{cmd}: {counts[0]} threads when idle, {counts[1]} under load 64"


def test_train_and_eval_record_the_thread_count(tmp_path, capsys):
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(_tiny_cfg(total_iter=2)))
    run = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--out", str(run), "--threads", "1"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["threads"] == 1
    assert json.loads((run / "config.json").read_text())["trainer"]["threads"] == 1
    res = tmp_path / "eval.json"
    assert main(["eval", "--config", str(cfg), "--checkpoint", out["checkpoint"], "--out", str(res),
                 "--threads", "1"]) == 0
    assert json.loads(res.read_text())["threads"] == 1


def test_library_records_the_count_it_ran_with(tmp_path):
    from gaitedge.experiment import train_from_config

    torch.set_num_threads(1)
    cfg = _tiny_cfg(total_iter=1)  # trainer.threads = 0: the caller's setting is kept
    res = train_from_config(cfg, tmp_path / "run", progress=False, evaluate=False)
    assert res["threads"] == 1
    assert json.loads((tmp_path / "run" / "config.json").read_text())["trainer"]["threads"] == 1


@pytest.mark.parametrize("threads", [1, 2])
def test_same_seed_and_thread_count_train_bitwise_identically(tmp_path, threads):
    from gaitedge.experiment import train_from_config

    cfg = _tiny_cfg()
    cfg["trainer"]["threads"] = threads
    a, b = (train_from_config(cfg, tmp_path / name, progress=False, keep_model=True, evaluate=False)
            for name in ("a", "b"))
    assert a["threads"] == b["threads"] == threads
    sa, sb = a["model"].state_dict(), b["model"].state_dict()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
