import subprocess
import sys

import pytest

from gaitedge.cli import main
from gaitedge.training.config import apply_overrides, list_configs, load_config


def test_list_configs(capsys):
    assert main(["train", "--list"]) == 0
    out = capsys.readouterr().out.split()
    assert "casiab_phase2_gaitedge" in out and out == list_configs()


@pytest.mark.parametrize("name", list_configs())
def test_shipped_configs_build(name):
    from gaitedge.training.builders import build_losses, build_model, build_optimizer, build_scheduler
    from gaitedge.training.config import OptimizerConfig, SchedulerConfig, TrainerConfig, section

    cfg = load_config(name)
    section(TrainerConfig, cfg["trainer"], "trainer")
    section(OptimizerConfig, cfg["optimizer"], "optimizer")
    section(SchedulerConfig, cfg["scheduler"], "scheduler")
    build_losses(cfg["loss"])
    # the model as training builds it: the trainer always passes the training-set class count, and models without
    # a softmax head (GaitSet, GaitPart) must not receive it
    model = build_model(dict(cfg["model"], init=[]), num_classes=10)
    build_scheduler(build_optimizer(model, cfg["optimizer"]), cfg["scheduler"])


def test_phase2_config_matches_paper():
    cfg = load_config("casiab_phase2_gaitedge")
    assert cfg["loss"]["bce"]["weight"] == 10.0
    assert cfg["optimizer"]["lr"] == 1e-4 and cfg["optimizer"]["groups"] == [{"match": "Backbone.", "lr": 1e-5}]
    assert cfg["scheduler"] == {"milestones": [10000], "gamma": 0.1}
    assert cfg["trainer"]["total_iter"] == 20000
    assert cfg["model"]["kwargs"]["freeze_encoder"] is True


def test_overrides():
    cfg = load_config("casiab_phase2_e2e", ["trainer.total_iter=7", "model.init.1.path=/x.pt", "data.train.P=2",
                                            ])
    assert cfg["trainer"]["total_iter"] == 7
    assert cfg["model"]["init"][1]["path"] == "/x.pt"
    assert cfg["data"]["train"]["P"] == 2
    assert apply_overrides({"a": {"b": 1}}, ["a.c=[1, 2]"]) == {"a": {"b": 1, "c": [1, 2]}}
    # one parser (YAML) for every value, whatever else is installed
    got = apply_overrides({}, ["x=yes", "y='yes'", "z=1e-3", "w=", "v=null", "u={a: 1}"])
    assert got == {"x": True, "y": "yes", "z": 1e-3, "w": None, "v": None, "u": {"a": 1}}
    with pytest.raises(ValueError, match="cannot parse"):
        apply_overrides({}, ["x=[1, 2"])


@pytest.mark.parametrize("argv, message", [
    (["train", "--config", "no_such_config"], "neither a file nor a shipped config"),
    (["train", "--config", "casiab_phase1_rec", "trainer.total_iter"], "key=value"),
    (["train", "--config", "casiab_phase2_e2e", "model.init.5.path=x"], "not a valid index"),
    (["train", "--config", "casiab_phase1_rec"], "data.root is not set"),
    (["train", "--config", "casiab_phase1_rec", "data.root=/no/such/dir"], "not found"),
    (["train", "--config", "casiab_phase1_rec", "trainer.amp=half", "data.root=/"], "trainer.amp"),
    (["eval", "--config", "casiab_phase1_rec", "--checkpoint", "/no/such.pt"], "does not exist"),
])
def test_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_bad_yaml(tmp_path, capsys):
    p = tmp_path / "bad.yaml"
    p.write_text("model: [unclosed\n")
    assert main(["train", "--config", str(p)]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    p.write_text("model: {}\ndata: {}\ntrainer: {}\nbogus: 1\n")
    assert main(["train", "--config", str(p)]) == 2
    assert "unknown top-level keys" in capsys.readouterr().err


def test_python_m_entry_point():
    proc = subprocess.run([sys.executable, "-m", "gaitedge", "train", "--list"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and "casiab_phase1_seg" in proc.stdout


def test_synth_train_eval_smoke(tmp_path, capsys):
    """synth -> train (shipped SynthGait config, shrunk by overrides) -> eval on the written checkpoint."""
    import json as _json

    data = tmp_path / "synth"
    assert main(["synth", "--out", str(data), "--subjects", "5", "--views", "0,90", "--frames", "4",
                 "--extra", "size=64"]) == 0
    assert "wrote SynthGait" in capsys.readouterr().out
    index = _json.loads((data / "index.json").read_text())
    assert len(index["partition"]["TRAIN_SET"]) == 3
    run = tmp_path / "run"
    small = [f"data.root={data}", "trainer.total_iter=2", "trainer.save_every=0", "data.train.P=2",
             "data.train.frames=4", "data.test.frames_limit=4", "scheduler.milestones=[1]"]
    assert main(["train", "--config", "synth_phase1_rec", "--out", str(run)] + small) == 0
    out = _json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["checkpoint"].endswith("GaitGL-00002.pt")
    assert set(out["eval"]) == {"NM", "BG", "CL", "mean"}
    # a second run into the same folder is refused without --resume/--force
    assert main(["train", "--config", "synth_phase1_rec", "--out", str(run)] + small) == 2
    assert "already holds checkpoints" in capsys.readouterr().err
    res_path = tmp_path / "eval.json"
    assert main(["eval", "--config", "synth_phase1_rec", "--checkpoint", out["checkpoint"], "--out", str(res_path)]
                + small) == 0
    res = _json.loads(res_path.read_text())
    assert res["summary"] == pytest.approx(out["eval"])  # the same weights give the same numbers
    assert "Rank-1" in capsys.readouterr().out


def test_synth_errors(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "x"), "--extra", "bogus=1"]) == 2
    assert "unknown generator arguments" in capsys.readouterr().err
    assert main(["synth", "--out", str(tmp_path / "y"), "--subjects", "1"]) == 2
    assert main(["pretreat", "-i", str(tmp_path / "missing"), "-o", str(tmp_path / "o")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_synth_in_memory_data_section(tmp_path):
    """data.synth trains without anything on disk (what the demo uses)."""
    from gaitedge.experiment import train_from_config

    cfg = load_config("synth_phase1_rec", ["data.root=null", "trainer.total_iter=1", "trainer.save_every=0",
                                           "data.train.P=2", "data.train.frames=3", "scheduler.milestones=[1]"])
    cfg["data"]["synth"] = {"domain": "outdoor", "subjects": 4, "views": [0, 90], "frames": 3, "size": 64,
                            "train_fraction": 0.5}
    cfg["data"]["test"]["frames_limit"] = 3
    res = train_from_config(cfg, tmp_path / "r", progress=False)
    assert 0.0 <= res["eval"]["summary"]["mean"] <= 100.0


def test_bench_passes_its_options_through(monkeypatch):
    # `gaitedge bench --full --out DIR` reaches gaitedge.bench.main unchanged (leading options included)
    import gaitedge.bench
    from gaitedge import cli

    seen = {}
    monkeypatch.setattr(gaitedge.bench, "main", lambda argv: seen.setdefault("argv", argv) and 0)
    assert cli.main(["bench", "--full", "--out", "somewhere"]) == 0
    assert seen["argv"] == ["--full", "--out", "somewhere"]


@pytest.fixture(scope="module")
def tiny_synth(tmp_path_factory):
    data = tmp_path_factory.mktemp("synth")
    assert main(["synth", "--out", str(data), "--subjects", "5", "--views", "0,90", "--frames", "4",
                 "--extra", "size=64"]) == 0
    return data


def _bad_checkpoint(path, kind):
    import torch

    if kind == "malicious":  # unpickling it would need a global outside the weights-only allow list
        torch.save({"model": {"x": torch.zeros(1)}, "extra": torch.nn.ReLU()}, path)
    elif kind == "corrupt":
        path.write_bytes(b"not a checkpoint at all")
    elif kind == "truncated":
        torch.save({"model": {"x": torch.zeros(1000)}, "iteration": 2}, path)
        path.write_bytes(path.read_bytes()[:300])
    elif kind == "list":
        torch.save([torch.zeros(1)], path)
    elif kind == "another_model":  # readable, but its weights belong to something else
        torch.save({"model": {"fc.weight": torch.zeros(3, 2)}, "iteration": 2}, path)
    return path


@pytest.mark.parametrize("kind", ["malicious", "corrupt", "truncated", "list", "another_model"])
@pytest.mark.parametrize("where", ["eval", "init", "resume"])
def test_bad_checkpoints_are_one_line_errors(where, kind, tiny_synth, tmp_path, capsys):
    small = [f"data.root={tiny_synth}", "trainer.total_iter=2", "trainer.save_every=0", "data.train.P=2",
             "data.train.frames=4", "data.test.frames_limit=4", "scheduler.milestones=[1]"]
    run = tmp_path / "run"
    if where == "eval":
        bad = _bad_checkpoint(tmp_path / "GaitGL-00002.pt", kind)
        argv = ["eval", "--config", "synth_phase1_rec", "--checkpoint", str(bad)] + small
    elif where == "init":
        bad = _bad_checkpoint(tmp_path / "GaitGL-00002.pt", kind)
        argv = ["train", "--config", "synth_phase1_rec", "--out", str(run), f"model.init=[{bad}]"] + small
    else:
        (run / "checkpoints").mkdir(parents=True)
        bad = _bad_checkpoint(run / "checkpoints" / "GaitGL-00002.pt", kind)
        argv = ["train", "--config", "synth_phase1_rec", "--out", str(run), "--resume"] + small
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "weights_only" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"gaitedge {argv[0]}: error:") and str(bad) in lines[0]
    assert bad.is_file()


def test_overrides_after_flags_are_applied(tmp_path, capsys):
    # the data.root given after --resume / --checkpoint is the one the error reports
    assert main(["train", "--config", "synth_phase1_rec", "--out", str(tmp_path / "r"), "--resume",
                 "data.root=/no/such/dir"]) == 2
    assert "/no/such/dir" in capsys.readouterr().err
    ck = tmp_path / "c.pt"
    ck.write_bytes(b"x")
    assert main(["eval", "--config", "synth_phase1_rec", "data.root=/elsewhere", "--checkpoint", str(ck),
                 "trainer.total_iter"]) == 2  # read as an override (and refused as one), not as a stray argument
    err = capsys.readouterr().err
    assert "unrecognized arguments" not in err and "key=value" in err


def test_error_from_a_dataloader_worker_is_its_own_one_line():
    from torch._utils import ExceptionWrapper

    from gaitedge.cli import _one_line
    from gaitedge.data.errors import DataError

    try:
        raise DataError("/data/001/nm-01/090/aligned_sils.npy: 'aligned_sils' holds NaN values")
    except DataError:
        wrapped = ExceptionWrapper(where="in DataLoader worker process 0")
    with pytest.raises(DataError) as info:
        wrapped.reraise()
    assert "Traceback" in str(info.value)  # what torch hands over
    assert _one_line(info.value) == "/data/001/nm-01/090/aligned_sils.npy: 'aligned_sils' holds NaN values"


def test_cli_log_lines_follow_a_redirected_stderr(monkeypatch):
    """A caller that runs commands one after another and redirects stderr in between (a test's capture, a notebook
    cell) sees each command's log lines where stderr points now, not where it pointed at the first call."""
    import io
    import logging
    import sys

    from gaitedge.cli import _configure_logging

    log = logging.getLogger("gaitedge")
    monkeypatch.setattr(log, "handlers", [])
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    _configure_logging()
    later = io.StringIO()
    monkeypatch.setattr(sys, "stderr", later)
    _configure_logging()
    logging.getLogger("gaitedge.data").warning("skipped x.png: unreadable")
    assert later.getvalue() == "skipped x.png: unreadable\n"


@pytest.mark.parametrize("extra, match", [("backgrounds=0", "backgrounds"), ("backgrounds=abc", "backgrounds"),
                                          ("backgrounds=true", "backgrounds"), ("camera=aerial", "camera"),
                                          ("camera=1", "camera")])
def test_synth_names_bad_world_arguments(extra, match, tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["synth", "--out", str(out), "--subjects", "2", "--views", "90", "--frames", "2",
                 "--extra", extra]) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


def test_synth_records_the_scene_pool_and_camera(tmp_path):
    import json as _json

    out = tmp_path / "s"
    assert main(["synth", "--out", str(out), "--subjects", "2", "--views", "90", "--frames", "2", "--domain",
                 "outdoor", "--extra", "backgrounds=3", "--extra", "camera=indoor"]) == 0
    gen = _json.loads((out / "index.json").read_text())["meta"]["generator"]
    assert gen["backgrounds"] == 3 and gen["camera"] == "indoor"
