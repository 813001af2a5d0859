"""Checkpoints whose file is fine but whose fields are not: refused on resume with an error naming the file and the
field, before anything is loaded, and the file is kept."""

import pytest
import torch

from gaitedge.training.checkpoint import CheckpointError
from tests.hostile._checkpoints import CASES

from test_trainer import _build


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    _build(run, total=3).fit()
    path = run / "checkpoints" / "toy-00003.pt"
    return torch.load(path, weights_only=True), path.read_bytes()


@pytest.mark.parametrize("name, edit, words", CASES, ids=[c[0] for c in CASES])
def test_bad_field_is_refused_naming_file_and_field(name, edit, words, saved, tmp_path):
    import copy

    state = copy.deepcopy(saved[0])
    edit(state)
    ckpt = tmp_path / "run" / "checkpoints" / "toy-00003.pt"
    ckpt.parent.mkdir(parents=True)
    torch.save(state, ckpt)
    before = ckpt.read_bytes()
    with pytest.raises(CheckpointError) as info:
        _build(tmp_path / "run", resume=True)
    msg = str(info.value)
    assert str(ckpt) in msg and words in msg and "\n" not in msg
    assert ckpt.read_bytes() == before  # nothing the user saved is touched


def test_good_checkpoint_still_resumes(saved, tmp_path):
    ckpt = tmp_path / "run" / "checkpoints" / "toy-00003.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(saved[1])
    assert _build(tmp_path / "run", resume=True).start_iter == 3


def test_flags_a_newer_torch_adds_do_not_refuse_an_older_state(saved, tmp_path):
    # torch adds flag-like optimiser settings and private scheduler keys between versions, and fills them in itself
    import copy

    state = copy.deepcopy(saved[0])
    for group in state["optimizer"]["param_groups"]:
        for flag in ("foreach", "maximize", "capturable", "differentiable", "fused"):
            group.pop(flag, None)
    state["scheduler"].pop("_get_lr_called_within_step", None)
    state["scheduler"].pop("_step_count", None)
    ckpt = tmp_path / "run" / "checkpoints" / "toy-00003.pt"
    ckpt.parent.mkdir(parents=True)
    torch.save(state, ckpt)
    assert _build(tmp_path / "run", resume=True).start_iter == 3
