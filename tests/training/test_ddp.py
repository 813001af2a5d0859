import os
import subprocess
import sys
from pathlib import Path

import torch

HERE = Path(__file__).parent


def test_ddp_two_cpu_processes_match_single_process(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(HERE.parent.parent))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(HERE / "_ddp_worker.py"), str(tmp_path / "ddp.pt")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
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
