"""BatchedEmbedder: the embeddings of one-at-a-time ``embed`` calls, batched and channels-last."""

import pytest
import torch

from gaitedge.models import BatchedEmbedder, GaitEdge, to_channels_last_

pytest.importorskip("gaitedge._C", reason="GaitEdge needs the compiled ops")


def small_edge():
    torch.manual_seed(0)
    m = GaitEdge(num_classes=4, channels=(8, 16, 32), seg_channels=(8, 16, 32), parts=16).eval()
    m.Frozen.Backbone.load_state_dict(m.Backbone.state_dict())
    with torch.no_grad():
        m.Backbone.Conv_1x1.bias.fill_(0.05)
        m.Frozen.Backbone.Conv_1x1.bias.fill_(0.05)
    return m


def seq(s, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"rgbs": torch.randint(0, 256, (s, 3, size, size), generator=g, dtype=torch.uint8),
            "ratios": 0.3 + 0.4 * torch.rand(s, generator=g)}


def test_batched_equals_one_at_a_time_in_input_order():
    m = small_edge()
    seqs = [seq(4, seed=0), seq(3, seed=1), seq(4, seed=2), seq(4, size=64, seed=3), seq(4, seed=4)]
    ref = torch.stack([m.embed(q["rgbs"], q["ratios"])[0] for q in seqs])  # [5, c, p]
    out = BatchedEmbedder(m, batch_size=2)(seqs)
    assert out.shape == ref.shape and not out.requires_grad
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))
    plain = BatchedEmbedder(m, batch_size=2, channels_last=False)(seqs)
    torch.testing.assert_close(plain, ref, rtol=1e-5, atol=1e-5 * float(ref.abs().max()))


def test_the_callers_model_is_left_alone_and_bad_input_is_named():
    m = small_edge().train()
    BatchedEmbedder(m)([seq(3)])
    assert m.training and m.Backbone.Conv1.conv[0].weight.is_contiguous()
    with pytest.raises(ValueError, match="batch_size"):
        BatchedEmbedder(m, batch_size=0)
    with pytest.raises(TypeError, match="embed"):
        BatchedEmbedder(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="empty"):
        BatchedEmbedder(m)([])
    with pytest.raises(TypeError, match=r"sequences\[1\]"):
        BatchedEmbedder(m)([seq(3), {"rgbs": seq(3)["rgbs"]}])
    with pytest.raises(ValueError, match="ratios"):
        BatchedEmbedder(m)([{"rgbs": seq(3)["rgbs"], "ratios": torch.ones(2)}])


def test_channels_last_covers_conv3d_and_survives_a_state_dict_round_trip(tmp_path):
    m = small_edge()
    ref = m.state_dict()
    to_channels_last_(m)
    for p in m.parameters():
        if p.dim() == 4:
            assert p.is_contiguous(memory_format=torch.channels_last)
        if p.dim() == 5:
            assert p.is_contiguous(memory_format=torch.channels_last_3d)
    torch.save(m.state_dict(), tmp_path / "m.pt")
    fresh = to_channels_last_(small_edge())
    fresh.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True))
    assert all(torch.equal(v, ref[k]) for k, v in fresh.state_dict().items())
    w = fresh.GLConvA0.global_conv3d.conv3d.weight
    assert w.is_contiguous(memory_format=torch.channels_last_3d)


def test_the_block_cache_leaves_the_embeddings_bit_for_bit_and_is_switched_off_after(monkeypatch):
    from gaitedge import block_cache as bc

    m = small_edge()
    seqs = [seq(16, size=64, seed=k) for k in range(4)]  # activations of several MiB
    seen = []
    real = bc.block_cache

    def spy(enabled=True, **kw):
        seen.append(enabled)
        return real(enabled, **kw)

    monkeypatch.setattr("gaitedge.models.batched_embed.block_cache", spy)
    cached = BatchedEmbedder(m, batch_size=2)(seqs)
    plain = BatchedEmbedder(m, batch_size=2, cpu_block_cache=False)(seqs)
    assert seen == [True, False]
    assert torch.equal(cached, plain)
    assert not bc.block_cache_stats()["enabled"]
    with pytest.raises(TypeError, match="cpu_block_cache"):
        BatchedEmbedder(m, cpu_block_cache=1)
