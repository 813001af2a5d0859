"""The CPU block cache: freed large blocks are handed out again, nothing computed changes, bad arguments are named."""

import math
import os
import signal
import threading
import time

import pytest
import torch

from gaitedge.block_cache import block_cache, block_cache_stats, default_max_cached_mib, release_block_cache

pytest.importorskip("gaitedge._C", reason="the block cache lives in the compiled extension")

BIG = 4 << 20  # floats: 16 MiB, well above the 1 MiB default threshold


@pytest.fixture(autouse=True)
def _no_cache_left_on():
    yield
    assert not block_cache_stats()["enabled"], "a test left the block cache installed"


def test_a_freed_large_block_is_handed_out_again():
    with block_cache() as on:
        assert on
        a = torch.empty(BIG)
        ptr = a.data_ptr()
        del a
        before = block_cache_stats()
        assert before["cached_blocks"] == 1 and before["cached_bytes"] == BIG * 4
        b = torch.empty(BIG)
        assert b.data_ptr() == ptr
        after = block_cache_stats()
        assert after["hits"] == before["hits"] + 1 and after["cached_bytes"] == 0
        # sizes round up to 64 KiB, so a slightly smaller request reuses the block too
        del b
        c = torch.empty(BIG - 100)
        assert c.data_ptr() == ptr
        del c


def test_small_blocks_are_not_cached():
    with block_cache(min_block_mib=1.0):
        a = torch.empty(1000)  # 4 kB
        del a
        assert block_cache_stats()["cached_blocks"] == 0


def test_outside_the_block_nothing_is_cached_and_the_cache_is_freed():
    with block_cache():
        a = torch.empty(BIG)
        del a
        assert block_cache_stats()["cached_bytes"] == BIG * 4
    stats = block_cache_stats()
    assert not stats["enabled"] and stats["cached_bytes"] == 0 and stats["cached_blocks"] == 0
    b = torch.empty(BIG)
    del b
    assert block_cache_stats()["cached_bytes"] == 0


def test_blocks_nest_and_only_the_outermost_exit_switches_it_off():
    with block_cache():
        with block_cache(min_block_mib=64.0):  # an inner block only counts one more user
            assert block_cache_stats()["enabled"]
        assert block_cache_stats()["enabled"] and block_cache_stats()["min_block"] == 1 << 20
    assert not block_cache_stats()["enabled"]


def test_tensors_outliving_the_block_are_freed_when_they_die():
    with block_cache():
        keep = torch.ones(BIG)
    live = block_cache_stats()["live_bytes"]
    assert live >= BIG * 4
    assert float(keep.sum()) == BIG
    del keep
    assert block_cache_stats()["live_bytes"] == live - BIG * 4


def test_max_cached_bounds_what_is_kept():
    with block_cache(max_cached_mib=20.0):
        a, b = torch.empty(BIG), torch.empty(BIG)  # 16 MiB each
        del a, b
        assert block_cache_stats()["cached_bytes"] == BIG * 4  # the second one did not fit
    with block_cache(max_cached_mib=0.0):
        a = torch.empty(BIG)
        del a
        assert block_cache_stats()["cached_bytes"] == 0


def test_release_frees_the_cached_blocks_and_keeps_the_cache_on():
    with block_cache():
        a = torch.empty(BIG)
        del a
        assert release_block_cache() == BIG * 4
        stats = block_cache_stats()
        assert stats["enabled"] and stats["cached_bytes"] == 0
        b = torch.empty(BIG)
        del b
        assert block_cache_stats()["cached_bytes"] == BIG * 4


def _train_u_net(steps: int) -> tuple:
    from gaitedge.models import UNet, to_channels_last_

    torch.manual_seed(0)
    net = to_channels_last_(UNet(3, (8, 16, 32, 64)))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.randn(16, 3, 64, 64, generator=torch.Generator().manual_seed(1))  # activations of 2-4 MiB
    y = (torch.rand(16, 1, 64, 64, generator=torch.Generator().manual_seed(2)) > 0.5).float()
    losses = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    with torch.inference_mode():
        out = net.eval()(x)
    return torch.stack(losses), [p.detach().clone() for p in net.parameters()], out


def test_training_and_inference_give_the_same_bits_with_the_cache():
    plain = _train_u_net(3)
    with block_cache():
        cached = _train_u_net(3)
        assert block_cache_stats()["hits"] > 0
    assert torch.equal(plain[0], cached[0])
    assert all(torch.equal(a, b) for a, b in zip(plain[1], cached[1]))
    assert torch.equal(plain[2], cached[2])


def test_the_profiler_still_sees_every_allocation():
    with block_cache():
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
            a = torch.empty(BIG)
            del a
            b = torch.empty(BIG)  # a cache hit is an allocation for the profiler too
            del b
    sizes = [e.nbytes() for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    assert sizes.count(BIG * 4) == 2 and sizes.count(-BIG * 4) == 2


def test_threads_allocating_at_once():
    errors = []

    def work(seed):
        try:
            for i in range(20):
                t = torch.full((BIG // 4 + seed * 4096,), float(i))
                assert float(t[-1]) == i
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    with block_cache():
        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert block_cache_stats()["hits"] > 0
    assert not errors
    assert block_cache_stats()["live_bytes"] == 0 or block_cache_stats()["live_bytes"] < BIG


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_can_allocate():
    # a thread holding the cache's lock at fork() would leave the child's copy locked: this one holds it
    with block_cache():
        a = torch.empty(BIG)
        del a
        stop = threading.Event()

        def churn():
            while not stop.is_set():
                torch.empty(BIG)

        t = threading.Thread(target=churn)
        t.start()
        try:
            pid = os.fork()
            if pid == 0:  # the child: one thread, as DataLoader workers run; a cached block and a fresh one
                torch.set_num_threads(1)
                ok = float(torch.ones(BIG).sum()) == BIG and float(torch.ones(2 * BIG).sum()) == 2 * BIG
                os._exit(0 if ok else 1)
        finally:
            stop.set()
            t.join()
        deadline = time.monotonic() + 60
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail("the forked child hung allocating")
            time.sleep(0.05)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


@pytest.mark.parametrize("kwargs, name", [
    ({"min_block_mib": -1.0}, "min_block_mib"), ({"min_block_mib": math.nan}, "min_block_mib"),
    ({"min_block_mib": math.inf}, "min_block_mib"), ({"min_block_mib": "1"}, "min_block_mib"),
    ({"min_block_mib": True}, "min_block_mib"), ({"max_cached_mib": -5}, "max_cached_mib"),
    ({"max_cached_mib": math.nan}, "max_cached_mib"), ({"max_cached_mib": [1]}, "max_cached_mib"),
    ({"min_budget_mib": -1.0}, "min_budget_mib"), ({"min_budget_mib": math.inf}, "min_budget_mib"),
])
def test_bad_sizes_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        with block_cache(**kwargs):
            pass


@pytest.mark.parametrize("enabled", [1, "yes", None])
def test_enabled_must_be_a_bool(enabled):
    with pytest.raises(TypeError, match="enabled must be a bool"):
        with block_cache(enabled):
            pass


def test_off_does_nothing_and_the_default_cap_is_a_quarter_of_memory():
    with block_cache(False) as on:
        assert not on and not block_cache_stats()["enabled"]
    assert default_max_cached_mib() > 0


_OUT_OF_ROOM = """
import resource, sys, torch
from gaitedge.block_cache import block_cache, block_cache_stats

def vm_size():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:"))

with block_cache():
    a = torch.empty(150 << 20)  # 600 MiB, then cached
    del a
    assert block_cache_stats()["cached_bytes"] == 600 << 20
    limit = vm_size() + (300 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    b = torch.ones(160 << 20)  # 640 MiB: fits only once the cached block is gone
    assert float(b[-1]) == 1.0 and block_cache_stats()["cached_bytes"] == 0
    del b
    try:
        torch.empty(1 << 30)  # 4 GiB: out of room with nothing cached, the allocator's own error
    except RuntimeError as e:
        assert "alloc" in str(e).lower() or "memory" in str(e).lower(), e
    else:
        raise AssertionError("a 4 GiB allocation fitted under the limit")
print("ok")
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_an_allocation_that_does_not_fit_frees_the_cache_and_tries_again():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _OUT_OF_ROOM], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_release_false_keeps_the_blocks_for_the_next_block():
    with block_cache(release=False):
        a = torch.empty(BIG)
        ptr = a.data_ptr()
        del a
    kept = block_cache_stats()
    assert not kept["enabled"] and kept["cached_bytes"] == BIG * 4
    b = torch.empty(BIG)  # the default allocator's, while the cache is off
    assert b.data_ptr() != ptr
    del b
    with block_cache():
        c = torch.empty(BIG)
        assert c.data_ptr() == ptr  # the kept block
        del c
    assert block_cache_stats()["cached_bytes"] == 0
    with pytest.raises(TypeError, match="release must be a bool"):
        with block_cache(release=0):
            pass


def test_the_process_never_holds_more_than_its_peak_of_live_tensors():
    x, y = BIG, BIG * 3 // 2  # floats: 16 MiB and 24 MiB blocks
    with block_cache(min_budget_mib=0.0):
        blocks = [torch.empty(x) for _ in range(4)]
        del blocks  # 64 MiB cached, the live peak
        s = block_cache_stats()
        evicted_before = s["evicted_bytes"]
        assert s["cached_bytes"] == 4 * x * 4 and s["peak_live_bytes"] >= 4 * x * 4
        held = []
        for _ in range(2):  # other sizes: each fresh block first frees the blocks cached longest ago
            held.append(torch.empty(y))
            s = block_cache_stats()
            assert s["live_bytes"] + s["cached_bytes"] <= s["peak_live_bytes"]
        assert s["cached_bytes"] == x * 4 and s["evicted_bytes"] - evicted_before == 3 * x * 4
        del held
    with block_cache(min_budget_mib=200.0):  # a budget above the live peak keeps every block
        blocks = [torch.empty(x) for _ in range(4)]
        del blocks
        held = [torch.empty(y) for _ in range(2)]
        s = block_cache_stats()
        assert s["cached_bytes"] == 4 * x * 4 and s["live_bytes"] + s["cached_bytes"] > s["peak_live_bytes"]
        del held
