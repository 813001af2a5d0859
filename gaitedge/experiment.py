"""Config → a finished run: build everything, train, evaluate. Used by ``gaitedge train|eval`` and the demo.

Data comes from :mod:`gaitedge.data` through three entry points (the data layer's public API):

- ``build_train_data(data_cfg, input_keys, seed, rank, world) -> (dataset, batch_sampler, collate_fn, num_classes)``
  with an infinite, seeded P×K ``batch_sampler`` already sliced for this rank;
- ``build_test_loader(data_cfg, input_keys, rank, world) -> iterable of (batch, meta)`` over this rank's share of
  the test split (all frames up to ``test.frames_limit``);
- ``generate_synthgait(...)`` for the demo.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Mapping

import torch

import gaitedge.data as gd
import gaitedge.models as gm
from gaitedge import distributed as du
from gaitedge.block_cache import block_cache
from gaitedge.evaluation import RecognitionEvaluator, SegmentationEvaluator, run_inference
from gaitedge.training.builders import build_losses, build_model, build_optimizer, build_scheduler
from gaitedge.training.checkpoint import CheckpointError, load_model_weights, load_weights_file, unwrap_model
from gaitedge.training.config import ConfigError, TrainerConfig, section
from gaitedge.training.loader import make_train_stream
from gaitedge.training.trainer import Trainer, resolve_amp

__all__ = ["train_from_config", "evaluate_from_config", "evaluate_model", "load_trained_model", "make_evaluator",
           "visualise_inputs", "run_block_cache"]


def _data_api(name: str):
    fn = getattr(gd, name, None)
    if fn is None:
        raise ImportError(f"gaitedge.data.{name} is not available in this install (the data layer provides it)")
    return fn


def _input_keys(model: torch.nn.Module, cfg: Mapping) -> tuple[str, ...]:
    keys = tuple(getattr(model, "input_keys", ()))
    loss = cfg.get("loss") or {}
    if "bce" in loss and "sils" not in keys:
        keys += ("sils",)  # the segmentation loss needs ground truth even when inference does not
    return keys


def _check_data(cfg: Mapping) -> None:
    data = cfg.get("data") or {}
    if data.get("synth") is not None:
        return  # in-memory SynthGait: nothing on disk to check
    root = data.get("root")
    if not root:
        raise ConfigError("data.root is not set (pass data.root=/path/to/dataset)")
    if not Path(root).exists():
        raise FileNotFoundError(f"data.root: dataset folder not found: {root}")


def run_block_cache(cfg: Mapping, device: torch.device):
    """The CPU block cache for work on ``device`` under ``cfg`` (``trainer.cpu_block_cache``; CPU devices only):
    the same numbers, large buffers reused (:mod:`gaitedge.block_cache`)."""
    tcfg = section(TrainerConfig, cfg.get("trainer"), "trainer")
    return block_cache(tcfg.cpu_block_cache and torch.device(device).type == "cpu")


def make_evaluator(eval_cfg: Mapping | None):
    eval_cfg = dict(eval_cfg or {})
    kind = eval_cfg.pop("kind", "recognition")
    if kind == "segmentation":
        return SegmentationEvaluator(**eval_cfg)
    if kind != "recognition":
        raise ConfigError(f"eval.kind must be 'recognition' or 'segmentation', got {kind!r}")
    try:
        return RecognitionEvaluator(**eval_cfg)
    except TypeError as e:
        raise ConfigError(f"eval: {e}") from None


def evaluate_model(model: torch.nn.Module, cfg: Mapping, device: torch.device | None = None,
                   extra_inputs: Callable[[Mapping, Mapping], Mapping] | None = None) -> dict:
    """Run ``cfg``'s test protocol on ``cfg['data']``'s test split with an already built model (``extra_inputs``:
    see :func:`gaitedge.evaluation.run_inference`)."""
    _check_data(cfg)
    tcfg = section(TrainerConfig, cfg.get("trainer"), "trainer")
    device = device or next(model.parameters()).device
    kind = (cfg.get("eval") or {}).get("kind", "recognition")
    keys = _input_keys(model, cfg)
    if kind == "recognition" and not getattr(model, "needs_sils", False):
        keys = tuple(k for k in keys if k != "sils")  # ground truth only feeds the training loss
    loader = _data_api("build_test_loader")(cfg["data"], keys, du.get_rank(), du.get_world_size())
    with run_block_cache(cfg, device):
        return run_inference(model, loader, make_evaluator(cfg.get("eval")), device,
                             amp_dtype=resolve_amp(tcfg.amp, device), extra_inputs=extra_inputs)


def train_from_config(cfg: Mapping, out: str | Path, resume: bool = False, force: bool = False,
                      progress: bool = True, keep_model: bool = False, evaluate: bool = True) -> dict:
    """Train the run ``cfg`` describes into ``out``; returns ``{"checkpoint", "eval", "threads", ...}``
    (+ ``"model"``).

    ``trainer.threads`` sets torch's CPU thread count (0 keeps the caller's); the count the run used is returned
    and written into the run folder's ``config.json``, because results depend on it (docs/training.md,
    Reproducibility). ``evaluate=False`` skips the test protocol during and after training (the demo evaluates
    once, afterwards).
    """
    _check_data(cfg)
    tcfg = section(TrainerConfig, cfg.get("trainer"), "trainer")
    threads = _apply_threads(tcfg.threads)
    cfg = dict(cfg, trainer=dict(cfg.get("trainer") or {}, threads=threads))
    device = du.init_distributed(tcfg.device)
    rank, world = du.get_rank(), du.get_world_size()
    torch.manual_seed(tcfg.seed)
    model_cfg = cfg["model"]
    # build once without data to learn the input keys, then ask the data layer for exactly those modalities
    probe_keys = _model_keys(model_cfg)
    keys = probe_keys + (("sils",) if "bce" in (cfg.get("loss") or {}) and "sils" not in probe_keys else ())
    dataset, batch_sampler, collate_fn, num_classes = _data_api("build_train_data")(
        cfg["data"], keys, tcfg.seed, rank, world)
    torch.manual_seed(tcfg.seed)
    model = build_model(model_cfg, num_classes=num_classes)
    losses = build_losses(cfg.get("loss"))
    optimizer = build_optimizer(model, cfg.get("optimizer"))
    scheduler = build_scheduler(optimizer, cfg.get("scheduler"))

    def stream_fn(start: int):
        return make_train_stream(dataset, batch_sampler, collate_fn, seed=tcfg.seed, start_iter=start, rank=rank,
                                 num_workers=tcfg.num_workers, pin_memory=device.type == "cuda")

    eval_fn = None
    if evaluate and cfg.get("eval") and (cfg["data"].get("test") is not None):
        def eval_fn(m, it):
            return evaluate_model(m, cfg, device)

    name = str(cfg.get("name") or "model").replace("*", "").replace("/", "_")
    trainer = Trainer(model, losses, optimizer, scheduler, stream_fn, out, tcfg, device, eval_fn=eval_fn,
                      resume=resume, force=force, name=name, progress=progress, config_dict=cfg)
    with run_block_cache(cfg, device):
        result = trainer.fit()
    result["threads"] = threads
    if keep_model:
        result["model"] = unwrap_model(trainer.model)
    return result


def _apply_threads(threads: int) -> int:
    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def _model_keys(model_cfg: Mapping) -> tuple[str, ...]:
    """The batch modalities a registered model reads (its class's ``input_keys``), without building it."""
    name = str(model_cfg.get("name"))
    gm.model_factory(name)  # clear error for an unknown name
    cls_name = "GaitEdge" if name.endswith("-E2E") else name.split("-")[0]
    return tuple(getattr(getattr(gm, cls_name, None), "input_keys", ()))


def load_trained_model(cfg: Mapping, checkpoint: str | os.PathLike, device: str | torch.device = "cpu"):
    """Build ``cfg``'s model (without its ``init`` weights) and load ``checkpoint`` into it strictly (ours, or
    OpenGait's ``model`` entry). The softmax head's class count is read from the checkpoint."""
    model_cfg = dict(cfg["model"])
    model_cfg["init"] = []
    state = load_weights_file(checkpoint)
    sd = state.get("model", state) if isinstance(state, dict) else state
    if not isinstance(sd, Mapping):
        raise CheckpointError(f"{checkpoint} holds no state dict (expected a mapping of tensors or a dict with a "
                              f"'model' entry, found {type(sd).__name__})", checkpoint)
    num_classes = None
    for k, v in sd.items():
        if isinstance(k, str) and torch.is_tensor(v) and (k.endswith("Head1.fc_bin") or k.endswith("BNNecks.fc_bin")):
            num_classes = int(v.shape[-1])
    model = build_model(model_cfg, num_classes=num_classes).to(device)
    if section(TrainerConfig, cfg.get("trainer"), "trainer").channels_last:
        gm.to_channels_last_(model)  # the layout the run trained in, so a reloaded model computes the same numbers
    load_model_weights(model, checkpoint, strict=True)
    return model


def evaluate_from_config(cfg: Mapping, checkpoint: str | os.PathLike) -> dict:
    """Build ``cfg``'s model, load ``checkpoint`` (ours or OpenGait's ``model`` entry) and run the test protocol.

    ``trainer.threads`` applies as in :func:`train_from_config`; the result's ``"threads"`` is the count used.
    """
    tcfg = section(TrainerConfig, cfg.get("trainer"), "trainer")
    threads = _apply_threads(tcfg.threads)
    device = du.init_distributed(tcfg.device)
    model = load_trained_model(cfg, checkpoint, device)
    return dict(evaluate_model(model, cfg, device), threads=threads)


@torch.no_grad()
def visualise_inputs(e2e: torch.nn.Module, edge: torch.nn.Module, cfg: Mapping, n: int = 6) -> list:
    """Rows for a Fig.-7-style grid: RGB crop, ground-truth aligned silhouette, GaitGL-E2E input, GaitEdge input.

    Uses the first test sequence of ``cfg['data']`` and ``n`` evenly spaced frames. The recogniser inputs are read
    from each model's ``visual_summary["image/sils"]`` (the aligned map fed to GaitGL).
    """
    loader = _data_api("build_test_loader")(cfg["data"], ("rgbs", "sils", "ratios", "aligned_sils"), 0, 1)
    batch, _meta = next(iter(loader))
    dev = next(edge.parameters()).device
    batch = {k: (v[:1].to(dev) if torch.is_tensor(v) and k != "seqL" else v) for k, v in batch.items()}
    e2e.eval()
    edge.eval()
    a = e2e(batch)["visual_summary"]["image/sils"].float().cpu()  # [S, 1, 64, 44]
    b = edge(batch)["visual_summary"]["image/sils"].float().cpu()
    rgb = batch["rgbs"][0].float().cpu()  # [s, 3, 128, 128], ImageNet-normalised
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    rgb = (rgb * std + mean).clamp(0, 1)
    gt = batch["aligned_sils"][0].float().cpu()  # [s, 64, 44]
    s = rgb.shape[0]
    idx = torch.linspace(0, s - 1, min(n, s)).long().tolist()
    return [[rgb[i].numpy() for i in idx], [gt[i].numpy() for i in idx], [a[i, 0].numpy() for i in idx],
            [b[i, 0].numpy() for i in idx]]
