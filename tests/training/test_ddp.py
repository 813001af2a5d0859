import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

HERE = Path(__file__).parent


def _torchrun(args: list, timeout: int = 180) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(HERE.parent.parent))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"] + args
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


def test_ddp_two_cpu_processes_match_single_process(tmp_path):
    _torchrun([str(HERE / "_ddp_worker.py"), str(tmp_path / "ddp.pt")])
    r0 = torch.load(tmp_path / "ddp-rank0.pt")
    r1 = torch.load(tmp_path / "ddp-rank1.pt")
    for k in r0:
        assert torch.equal(r0[k], r1[k]), f"ranks diverged at {k}"
    assert (tmp_path / "run" / "checkpoints" / "toy-00004.pt").is_file()

    # one process on the full P×K batch: the gathered triplet loss (×world) and DDP's averaging give the same step
    sys.path.insert(0, str(HERE))
    from _ddp_worker import train

    single = train(str(tmp_path / "single"))
    for k in r0:
        assert torch.allclose(r0[k], single[k], atol=1e-5, rtol=1e-4), k


def test_ddp_batchnorm_statistics_stay_per_rank_on_cpu(tmp_path):
    # torch's SyncBatchNorm has no CPU kernel, so trainer.sync_bn cannot hold on gloo: each rank normalises with
    # its own half-batch statistics and the step is not one process's. The run has to say so, once.
    proc = _torchrun([str(HERE / "_ddp_worker.py"), str(tmp_path / "ddp.pt"), "bn"])
    r0 = torch.load(tmp_path / "ddp-rank0.pt")
    r1 = torch.load(tmp_path / "ddp-rank1.pt")
    params = [k for k in r0 if "running" not in k and "num_batches" not in k]
    for k in params:
        assert torch.equal(r0[k], r1[k]), f"ranks diverged at {k}"
    sys.path.insert(0, str(HERE))
    from _ddp_worker import train

    single = train(str(tmp_path / "single"), sync_bn=True, bn=True)
    assert any(not torch.allclose(r0[k], single[k], atol=1e-5, rtol=1e-4) for k in params)
    assert proc.stderr.count("BatchNorm statistics are per rank") == 1, proc.stderr[-3000:]
    assert "[gaitedge]" not in proc.stdout  # library code logs; it does not print


def test_train_command_under_torchrun_prints_its_result_once(tmp_path):
    from gaitedge.study import load_experiment, study_configs

    cfg = copy.deepcopy(study_configs(load_experiment("demo", "tiny"), "indoor", 0)["GaitGL"])
    cfg["trainer"].update(total_iter=2, log_every=0)
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(cfg))
    proc = _torchrun(["-m", "gaitedge", "train", "--config", str(path), "--out", str(tmp_path / "run")], timeout=300)
    results = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(results) == 1, proc.stdout[-3000:]
    assert json.loads(results[0])["checkpoint"].endswith("GaitGL-00002.pt")
