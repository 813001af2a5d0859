"""Experiment files: every preset builds, and phase-2 models can start from the phase-1 runs they name."""

import pytest
import torch

from gaitedge.study import DOMAINS, EXPERIMENT_DIR, load_experiment, study_configs
from gaitedge.training.builders import build_model
from gaitedge.training.config import ConfigError, read_yaml_file

pytest.importorskip("gaitedge._C", reason="GaitEdge needs the compiled ops")

PRESETS = [(p.stem, name) for p in sorted(EXPERIMENT_DIR.glob("*.yaml"))
           for name in read_yaml_file(p)["presets"]]


@pytest.mark.parametrize("experiment,preset", PRESETS)
def test_every_preset_builds_and_phase2_init_fits_phase1(experiment, preset):
    exp = load_experiment(experiment, preset)
    cfgs = study_configs(exp, DOMAINS[0], seed=0)
    built = {name: build_model(dict(cfg["model"], init=[]), num_classes=7) for name, cfg in cfgs.items()}
    for name, cfg in cfgs.items():
        own = built[name].state_dict()
        assert cfg["data"]["synth"]["subjects"] == exp["data"]["subjects"]
        for entry in cfg["model"].get("init") or []:
            src = built[entry["from"]].state_dict()
            prefix = entry.get("prefix", "")
            for k, v in src.items():
                assert prefix + k in own, (name, entry, k)
                assert own[prefix + k].shape == v.shape, (name, entry, k, tuple(own[prefix + k].shape), tuple(v.shape))


def test_unknown_experiment_and_preset_are_named():
    with pytest.raises(ConfigError, match="nosuch"):
        load_experiment("nosuch", "default")
    with pytest.raises(ConfigError, match="preset 'huge'"):
        load_experiment("demo", "huge")
