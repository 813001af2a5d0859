"""Training checkpoints whose file is fine but one field is not: edits of a loaded state dict, each with the words
its refusal must contain (the field's name). Any model trained with Adam and MultiStepLR fits them."""

import math

import torch


def _sgd_state():
    p = torch.nn.Linear(6, 8)
    opt = torch.optim.SGD(p.parameters(), lr=0.1, momentum=0.9)
    return opt.state_dict()


def _nan_weight(s):
    name = next(iter(s["model"]))
    s["model"][name] = s["model"][name].clone()
    s["model"][name].view(-1)[0] = math.nan


def _inf_adam(s):
    st = next(iter(s["optimizer"]["state"].values()))
    st["exp_avg"] = st["exp_avg"].clone().fill_(math.inf)


def _wrong_shape_adam(s):
    st = next(iter(s["optimizer"]["state"].values()))
    st["exp_avg"] = torch.zeros(3, 3, 3)


# (name, edit of the loaded state dict, words the error must contain)
CASES = [
    ("iteration_negative", lambda s: s.update(iteration=-3), "'iteration'"),
    ("iteration_bool", lambda s: s.update(iteration=True), "'iteration'"),
    ("rng_not_dict", lambda s: s.update(rng=[1, 2]), "'rng'"),
    ("rng_missing_numpy", lambda s: s["rng"].pop("numpy"), "'rng'"),
    ("rng_python_state_list", lambda s: s["rng"]["python"].update(state=[1, 2, 3]), "'rng.python'"),
    ("rng_python_state_short", lambda s: s["rng"]["python"].update(state=torch.zeros(5, dtype=torch.int64)),
     "'rng.python'"),
    ("rng_numpy_key_short", lambda s: s["rng"]["numpy"].update(key=torch.zeros(7, dtype=torch.int64)),
     "'rng.numpy'"),
    ("rng_numpy_pos_str", lambda s: s["rng"]["numpy"].update(pos="3"), "'rng.numpy'"),
    ("rng_torch_float", lambda s: s["rng"].update(torch=torch.zeros(5056)), "'rng.torch'"),
    ("rng_torch_short", lambda s: s["rng"].update(torch=torch.zeros(7, dtype=torch.uint8)), "'rng.torch'"),
    ("optimizer_no_groups", lambda s: s["optimizer"].pop("param_groups"), "'optimizer'"),
    ("optimizer_empty_groups", lambda s: s["optimizer"].update(param_groups=[]), "'optimizer'"),
    ("optimizer_not_dict", lambda s: s.update(optimizer=7), "'optimizer'"),
    ("optimizer_of_another_kind", lambda s: s.update(optimizer=_sgd_state()), "'optimizer.param_groups[0]'"),
    ("optimizer_state_inf", _inf_adam, "'optimizer.state"),
    ("optimizer_state_shape", _wrong_shape_adam, "'optimizer.state"),
    ("scheduler_list", lambda s: s.update(scheduler=[1, 2]), "'scheduler'"),
    ("scheduler_of_another_kind", lambda s: s.update(scheduler={"step_size": 3, "gamma": 0.1, "last_epoch": 3}),
     "'scheduler'"),
    ("scheduler_last_epoch_str", lambda s: s["scheduler"].update(last_epoch="3"), "'scheduler.last_epoch'"),
    ("model_nan_weight", _nan_weight, "NaN"),
    ("model_non_tensor", lambda s: s["model"].update({next(iter(s["model"])): [0.0]}), "non-tensor"),
]
