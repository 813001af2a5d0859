import math

import pytest
import torch

from gaitedge.training.losses import BCELoss, CrossEntropyLoss, LossAggregator, TripletLoss


def _triplet_case():
    # part 0: 1-D points 0, 1, 1.1, 3 with labels 0, 0, 1, 1 (worked out by hand in the comments of test_feature)
    # part 1: two well separated clusters: every triplet satisfied, part loss 0
    part0 = torch.tensor([0.0, 1.0, 1.1, 3.0])
    part1 = torch.tensor([0.0, 0.0, 10.0, 10.0])
    emb = torch.stack([part0, part1], 1).unsqueeze(1)  # [n=4, c=1, p=2]
    return emb.double(), torch.tensor([0, 0, 1, 1])


class TestTripletLoss:
    def test_feature(self):
        emb, labels = _triplet_case()
        loss, info = TripletLoss(margin=0.2, gather=False)(emb, labels)
        # non-zero terms of part 0 (anchor counted as its own positive):
        # a0: 1-1.1+.2=.1; a1: 1-.1+.2=1.1, 0-.1+.2=.1; a2: 0-.1+.2=.1, 1.9-1.1+.2=1.0, 1.9-.1+.2=2.0; a3: 1.9-2+.2=.1
        part0 = 4.5 / 7
        assert loss.item() == pytest.approx(part0 / 2, abs=1e-5)
        assert info["loss"].item() == pytest.approx(part0 / 2, abs=1e-5)
        assert info["hard_loss"].item() == pytest.approx(2.0 / 2, abs=1e-5)
        assert info["loss_num"].item() == pytest.approx(7 / 2)
        # mean pairwise distance: part 0 off-diagonal sum 2*9.1 over 16 entries; part 1: 8 pairs at distance 10
        assert info["mean_dist"].item() == pytest.approx((18.2 / 16 + 80 / 16) / 2, abs=1e-5)

    def test_all_satisfied_is_zero(self):
        emb = torch.tensor([[0.0], [0.0], [5.0], [5.0]]).unsqueeze(-1)  # [4, 1, 1]
        loss, info = TripletLoss(gather=False)(emb, torch.tensor([0, 0, 1, 1]))
        assert loss.item() == pytest.approx(0.0, abs=1e-6)
        assert info["loss_num"].item() == 0

    def test_chunking_matches(self):
        torch.manual_seed(0)
        emb = torch.randn(12, 8, 4, dtype=torch.float64)
        labels = torch.arange(4).repeat_interleave(3)
        a, _ = TripletLoss(gather=False)(emb, labels)
        b, _ = TripletLoss(gather=False, chunk_elems=1)(emb, labels)
        assert torch.allclose(a, b)

    def test_gradcheck(self):
        torch.manual_seed(0)
        emb = torch.randn(6, 3, 2, dtype=torch.float64, requires_grad=True)
        labels = torch.tensor([0, 0, 1, 1, 2, 2])
        assert torch.autograd.gradcheck(lambda e: TripletLoss(margin=1.0, gather=False)(e, labels)[0], (emb,))

    def test_exception(self):
        with pytest.raises(ValueError, match="embeddings"):
            TripletLoss()(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))
        with pytest.raises(ValueError, match="labels"):
            TripletLoss()(torch.zeros(4, 3, 2), torch.zeros(3, dtype=torch.long))
        with pytest.raises(ValueError, match="empty"):
            TripletLoss()(torch.zeros(0, 3, 2), torch.zeros(0, dtype=torch.long))


class TestCrossEntropyLoss:
    def test_feature(self):
        logits = torch.tensor([[[0.0], [math.log(3.0)]]])  # [n=1, C=2, p=1]
        labels = torch.tensor([0])
        loss, info = CrossEntropyLoss(scale=1.0)(logits, labels)
        assert loss.item() == pytest.approx(math.log(4.0), rel=1e-6)
        assert info["accuracy"].item() == 0.0
        loss, _ = CrossEntropyLoss(scale=2.0)(logits, labels)
        assert loss.item() == pytest.approx(math.log(10.0), rel=1e-6)
        loss, _ = CrossEntropyLoss(scale=1.0, label_smooth=True, eps=0.1)(logits, labels)
        assert loss.item() == pytest.approx(-(0.95 * -math.log(4.0) + 0.05 * math.log(0.75)), rel=1e-6)

    def test_parts_averaged(self):
        logits = torch.tensor([[[5.0, 0.0], [0.0, 0.0]]])  # [1, 2, 2]: part 0 right, part 1 a tie
        loss, info = CrossEntropyLoss()(logits, torch.tensor([0]))
        expected = (-math.log(math.exp(5) / (math.exp(5) + 1)) + math.log(2.0)) / 2
        assert loss.item() == pytest.approx(expected, rel=1e-6)
        assert info["accuracy"].item() == pytest.approx(1.0)  # argmax of a tie is index 0

    def test_exception(self):
        with pytest.raises(ValueError, match="labels must lie"):
            CrossEntropyLoss()(torch.zeros(2, 3, 1), torch.tensor([0, 3]))


class TestBCELoss:
    def test_feature(self):
        probs = torch.tensor([0.5, 0.9]).view(1, 1, 1, 2)
        targets = torch.tensor([1.0, 0.0]).view(1, 1, 1, 2)
        loss, info = BCELoss()(probs, targets)
        assert loss.item() == pytest.approx((math.log(2.0) + math.log(10.0)) / 2, rel=1e-6)
        assert info["hard_loss"].item() == pytest.approx(math.log(10.0), rel=1e-5)
        assert info["miou"].item() == 0.0

    def test_miou(self):
        probs = torch.zeros(2, 1, 2, 2)
        probs[0, 0, 0] = 0.9  # predicts the top row of frame 0
        targets = torch.zeros(2, 1, 2, 2)
        targets[0, 0, 0, 0] = 1  # one pixel of the top row
        _, info = BCELoss()(probs, targets)
        assert info["miou"].item() == pytest.approx((0.5 + 1.0) / 2)  # frame 1: both empty → 1

    def test_exception(self):
        with pytest.raises(ValueError, match="differ in shape"):
            BCELoss()(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 3))


class TestLossAggregator:
    def test_feature(self):
        emb, labels = _triplet_case()
        logits = torch.tensor([[[0.0], [math.log(3.0)]]]).repeat(4, 1, 1)
        agg = LossAggregator.from_config({"triplet": {"weight": 1.0, "margin": 0.2, "gather": False},
                                          "softmax": {"weight": 2.0, "scale": 1.0}})
        total, info = agg({"triplet": {"embeddings": emb, "labels": labels},
                           "softmax": {"logits": logits, "labels": torch.zeros(4, dtype=torch.long)}})
        expected = 4.5 / 7 / 2 + 2 * math.log(4.0)
        assert total.item() == pytest.approx(expected, abs=1e-5)
        assert info["total"] == pytest.approx(expected, abs=1e-5)
        assert info["softmax/weighted"] == pytest.approx(2 * math.log(4.0), rel=1e-6)
        assert {"triplet/loss", "triplet/hard_loss", "triplet/loss_num", "triplet/mean_dist",
                "softmax/accuracy"} <= set(info)

    def test_exception(self):
        agg = LossAggregator.from_config({"bce": {"weight": 10}})
        with pytest.raises(KeyError, match="configured but not produced"):
            agg({"triplet": {}})
        with pytest.raises(ValueError, match="unknown loss type"):
            LossAggregator.from_config({"foo": {}})
