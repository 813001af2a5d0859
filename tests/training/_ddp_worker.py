"""torchrun worker for test_ddp: trains the toy recogniser with DDP (gloo, CPU) and saves rank 0's weights."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from _toy import ToyDataset, ToyPKSampler, ToyRecogniser, toy_collate  # noqa: E402

from gaitedge import distributed as du  # noqa: E402
from gaitedge.training.config import TrainerConfig  # noqa: E402
from gaitedge.training.loader import make_train_stream  # noqa: E402
from gaitedge.training.losses import LossAggregator  # noqa: E402
from gaitedge.training.trainer import Trainer  # noqa: E402


def train(run_dir: str, sync_bn: bool = False, bn: bool = False) -> dict:
    device = du.init_distributed("cpu")
    rank, world = du.get_rank(), du.get_world_size()
    torch.manual_seed(0)
    model = ToyRecogniser(dropout=0.0, bn=bn)
    loss = LossAggregator.from_config({"triplet": {"margin": 0.2}, "softmax": {"weight": 1.0}})
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    data = ToyDataset()

    def stream_fn(start):
        sampler = ToyPKSampler(data.labels, 2, 2, seed=3, rank=rank, world=world)
        return make_train_stream(data, sampler, toy_collate, seed=5, start_iter=start, rank=rank)

    cfg = TrainerConfig(total_iter=4, log_every=2, save_every=0, sync_bn=sync_bn)
    t = Trainer(model, loss, opt, None, stream_fn, run_dir, cfg, device, name="toy", progress=False)
    t.fit()
    return {k: v.detach().clone() for k, v in t.model.module.state_dict().items()} if world > 1 else \
        {k: v.detach().clone() for k, v in t.model.state_dict().items()}


if __name__ == "__main__":
    out = Path(sys.argv[1])
    bn = "bn" in sys.argv[2:]  # a BatchNorm layer, with trainer.sync_bn asked for
    state = train(str(out.parent / "run"), sync_bn=bn, bn=bn)
    torch.save(state, out.with_name(f"{out.stem}-rank{du.get_rank()}.pt"))
    du.cleanup_distributed()
