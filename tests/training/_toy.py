"""A toy recogniser, dataset and P×K sampler obeying the batch/output contract, for trainer tests."""

import torch
import torch.nn as nn
from torch.utils.data import Dataset


class ToyRecogniser(nn.Module):
    input_keys = ("x",)

    def __init__(self, dim: int = 6, c: int = 4, parts: int = 2, classes: int = 4, dropout: float = 0.0,
                 bn: bool = False):
        super().__init__()
        self.c, self.parts = c, parts
        self.embed = nn.Linear(dim, c * parts)
        self.bn = nn.BatchNorm1d(c * parts) if bn else nn.Identity()
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(c, classes)

    def forward(self, batch):
        x = batch["x"]
        e = self.drop(self.bn(self.embed(x))).view(-1, self.c, self.parts)  # [n, c, p]
        logits = self.head(e.transpose(1, 2)).transpose(1, 2)  # [n, classes, p]
        labels = batch["labels"]
        return {"training_feat": {"triplet": {"embeddings": e, "labels": labels},
                                  "softmax": {"logits": logits, "labels": labels}},
                "inference_feat": {"embeddings": e}, "visual_summary": {}}


class ToyDataset(Dataset):
    def __init__(self, n_ids: int = 4, per_id: int = 4, dim: int = 6, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.arange(n_ids).repeat_interleave(per_id)
        centers = torch.randn(n_ids, dim, generator=g)
        self.x = centers[self.labels] + 0.3 * torch.randn(len(self.labels), dim, generator=g)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        # a random jitter drawn from the global RNG: resume exactness needs the seeded loader
        return self.x[i] + 0.01 * torch.randn(self.x.shape[1]), int(self.labels[i])


class ToyPKSampler:
    """Infinite, seeded P×K batches; rank r keeps items r::world of each batch."""

    def __init__(self, labels, p: int, k: int, seed: int, rank: int = 0, world: int = 1):
        self.labels, self.p, self.k, self.seed, self.rank, self.world = labels, p, k, seed, rank, world

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed)
        ids = sorted(set(self.labels.tolist()))
        while True:
            batch = []
            for pi in torch.randperm(len(ids), generator=g)[: self.p].tolist():
                idx = (self.labels == ids[pi]).nonzero().flatten()
                batch += idx[torch.randperm(len(idx), generator=g)[: self.k]].tolist()
            yield batch[self.rank::self.world]


def toy_collate(items):
    x = torch.stack([i[0] for i in items])
    labels = torch.tensor([i[1] for i in items])
    meta = {"ids": [str(i[1]) for i in items], "types": ["nm-01"] * len(items), "views": ["000"] * len(items)}
    return {"x": x, "labels": labels, "seqL": None}, meta
