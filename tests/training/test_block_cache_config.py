"""``trainer.cpu_block_cache``: on in every shipped config, a bool, and only ever on for CPU work."""

import glob
from pathlib import Path

import pytest
import torch

import gaitedge
from gaitedge.block_cache import block_cache_stats
from gaitedge.experiment import run_block_cache
from gaitedge.training.config import ConfigError, TrainerConfig, load_config, section

CONFIGS = sorted(Path(p).stem for p in glob.glob(str(Path(gaitedge.__file__).parent / "configs" / "*.yaml")))


@pytest.mark.parametrize("name", CONFIGS)
def test_every_shipped_config_turns_it_on(name):
    assert load_config(name)["trainer"]["cpu_block_cache"] is True


@pytest.mark.parametrize("bad", [1, "true", None, 0.0])
def test_it_must_be_a_bool(bad):
    with pytest.raises(ConfigError, match="trainer.cpu_block_cache"):
        section(TrainerConfig, {"cpu_block_cache": bad}, "trainer")


def test_the_overrides_turn_it_off():
    cfg = load_config("synth_phase2_gaitedge", ["trainer.cpu_block_cache=false"])
    assert cfg["trainer"]["cpu_block_cache"] is False


@pytest.mark.parametrize("flag, device, on", [(True, "cpu", True), (False, "cpu", False), (True, "meta", False)])
def test_run_block_cache_is_on_only_for_cpu_work_that_asks(flag, device, on):
    pytest.importorskip("gaitedge._C", reason="the block cache lives in the compiled extension")
    with run_block_cache({"trainer": {"cpu_block_cache": flag}}, torch.device(device)) as active:
        assert active is on and block_cache_stats()["enabled"] is on
    assert not block_cache_stats()["enabled"]
