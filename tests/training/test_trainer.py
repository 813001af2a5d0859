import json
import logging
import os
import subprocess
import sys
import time

import pytest
import torch

from gaitedge.training.checkpoint import latest_checkpoint, load_checkpoint, load_model_weights
from gaitedge.training.config import TrainerConfig
from gaitedge.training.loader import make_train_stream
from gaitedge.training.losses import LossAggregator
from gaitedge.training.trainer import RunDirError, Trainer

from _toy import ToyDataset, ToyPKSampler, ToyRecogniser, toy_collate


def _build(run_dir, total=6, resume=False, force=False, kill_at=None, dropout=0.2, amp="off", keep_last=2):
    torch.manual_seed(0)
    model = ToyRecogniser(dropout=dropout)
    loss = LossAggregator.from_config({"triplet": {"margin": 0.2, "gather": False}, "softmax": {"weight": 1.0}})
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[4], gamma=0.1)
    data = ToyDataset()

    def stream_fn(start):
        s = make_train_stream(data, ToyPKSampler(data.labels, 2, 2, seed=3), toy_collate, seed=5, start_iter=start)
        for it, item in enumerate(s, start):
            if kill_at is not None and it == kill_at:
                raise KeyboardInterrupt("simulated kill")
            yield item

    cfg = TrainerConfig(total_iter=total, log_every=1, save_every=3, amp=amp, keep_last=keep_last)
    return Trainer(model, loss, opt, sched, stream_fn, run_dir, cfg, torch.device("cpu"), resume=resume,
                   force=force, name="toy", progress=False)


def test_resume_after_kill_is_exact(tmp_path):
    ref = _build(tmp_path / "ref")
    ref.fit()
    with pytest.raises(KeyboardInterrupt):
        _build(tmp_path / "run", kill_at=4).fit()  # dies after the checkpoint at iteration 3
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("*.pt")) == ["toy-00003.pt"]
    resumed = _build(tmp_path / "run", resume=True)
    assert resumed.start_iter == 3
    resumed.fit()
    for (n, a), (_, b) in zip(ref.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), n
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [1, 2, 3, 4, 5, 6]  # the killed run's iteration 4 row is dropped
    ref_rows = [json.loads(line) for line in (tmp_path / "ref" / "metrics.jsonl").read_text().splitlines()]
    assert [r["total"] for r in rows] == [r["total"] for r in ref_rows]
    assert (tmp_path / "run" / "metrics.csv").read_text().count("\n") == 7


def test_refuses_to_overwrite(tmp_path):
    _build(tmp_path / "run", total=3).fit()
    with pytest.raises(RunDirError, match="--resume"):
        _build(tmp_path / "run", total=3)
    _build(tmp_path / "run", total=3, force=True).fit()


def test_bf16_autocast_trains(tmp_path):
    t = _build(tmp_path / "run", total=3, amp="bf16", dropout=0.0)
    before = [p.detach().clone() for p in t.model.parameters()]
    out = t.fit()
    assert out["iteration"] == 3
    assert any(not torch.equal(a, b) for a, b in zip(before, t.model.parameters()))


def test_nonfinite_loss_raises(tmp_path):
    t = _build(tmp_path / "run", total=2)
    with torch.no_grad():
        t.model.embed.weight.fill_(float("nan"))
    with pytest.raises((FloatingPointError, ValueError)):
        t.fit()


def test_pruning_and_resume_order_by_iteration_not_name(tmp_path):
    # from iteration 100000 on, "toy-100000.pt" sorts before "toy-99998.pt" as a string
    t = _build(tmp_path / "run", total=100001)
    for it in (99997, 99998):
        t._save(it)
    newest = t._save(100000)
    assert newest.is_file()
    names = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("*.pt"))
    assert names == ["toy-100000.pt", "toy-99998.pt"]
    assert latest_checkpoint(tmp_path / "run" / "checkpoints") == newest
    assert _build(tmp_path / "run", total=100001, resume=True).start_iter == 100000


def test_pruning_leaves_other_runs_and_later_files_alone(tmp_path):
    t = _build(tmp_path / "run", total=10, keep_last=1)
    ckpts = tmp_path / "run" / "checkpoints"
    t._save(9)  # e.g. a newer file the resumed run could not load: it is the user's, not ours to prune
    (ckpts / "toy-extra-00001.pt").write_bytes((ckpts / "toy-00009.pt").read_bytes())
    t._save(3)
    t._save(6)
    assert sorted(p.name for p in ckpts.glob("*.pt")) == ["toy-00006.pt", "toy-00009.pt", "toy-extra-00001.pt"]


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_resume_falls_back_to_the_newest_checkpoint_that_loads(tmp_path, caplog):
    ref = _build(tmp_path / "ref")
    ref.fit()
    with pytest.raises(KeyboardInterrupt):
        _build(tmp_path / "run", total=9, kill_at=7).fit()  # leaves toy-00003.pt and toy-00006.pt
    ckpts = tmp_path / "run" / "checkpoints"
    _truncate(ckpts / "toy-00006.pt")
    with caplog.at_level(logging.WARNING, logger="gaitedge"):
        resumed = _build(tmp_path / "run", resume=True)
    assert resumed.start_iter == 3
    assert "toy-00006.pt" in caplog.text and "toy-00003.pt" in caplog.text
    assert (ckpts / "toy-00006.pt").is_file()  # skipped, never deleted
    out = resumed.fit()
    assert out["checkpoint"].endswith("toy-00006.pt") and load_checkpoint(out["checkpoint"])["iteration"] == 6
    for (n, a), (_, b) in zip(ref.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), n


def test_resume_with_no_loadable_checkpoint_names_them_and_keeps_them(tmp_path):
    from gaitedge.training.checkpoint import CheckpointError

    _build(tmp_path / "run").fit()
    ckpts = tmp_path / "run" / "checkpoints"
    for p in ckpts.glob("*.pt"):
        _truncate(p)
    before = sorted(p.name for p in ckpts.glob("*.pt"))
    with pytest.raises(CheckpointError, match="toy-00006.pt") as err:
        _build(tmp_path / "run", resume=True)
    assert "toy-00003.pt" in str(err.value)
    assert sorted(p.name for p in ckpts.glob("*.pt")) == before


def _dead_pid():
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path):
    ckpts = tmp_path / "run" / "checkpoints"
    ckpts.mkdir(parents=True)
    old = time.time() - 3600
    dead, alive = _dead_pid(), os.getpid()
    stale = ckpts / f".toy-00003.pt.tmp-{dead}"
    live = ckpts / f".toy-00006.pt.tmp-{alive}"  # a live process may still be writing it
    fresh = ckpts / f".toy-00009.pt.tmp-{dead}"  # just written: maybe by a process this host cannot see
    for p in (stale, live, fresh):
        p.write_bytes(b"partial")
    os.utime(stale, (old, old))
    os.utime(live, (old, old))
    _build(tmp_path / "run", total=3, resume=True)
    assert not stale.exists() and live.exists() and fresh.exists()


def test_non_dict_and_malicious_weights_are_clear_errors(tmp_path):
    from gaitedge.training.checkpoint import CheckpointError

    lst = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], lst)
    bad = tmp_path / "evil.pt"
    torch.save({"model": {"embed.weight": torch.zeros(1)}, "x": torch.nn.ReLU()}, bad)
    for path in (lst, bad):
        with pytest.raises(CheckpointError, match=path.name) as err:
            load_model_weights(ToyRecogniser(), path)
        assert "weights_only" not in str(err.value) and err.value.__cause__ is None
        assert err.value.__context__ is None or err.value.__suppress_context__
