"""Experiment configs: YAML files (shipped ones by name, or a path), ``key=value`` overrides, typed sections.

A config is a nested dict with the sections ``model``, ``data``, ``loss``, ``optimizer``, ``scheduler``,
``trainer`` and ``eval`` (see ``gaitedge/configs/*.yaml``). Dicts become typed keyword arguments only here and in
the CLI: models and losses never read a config dict themselves. PyYAML (a core dependency) reads the files and
parses override values.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

__all__ = ["CONFIG_DIR", "list_configs", "load_config", "apply_overrides", "parse_override", "read_yaml_file",
           "TrainerConfig", "OptimizerConfig", "SchedulerConfig", "ConfigError", "section"]

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, plus YAML 1.2's floats: ``1e-4`` is a float (YAML 1.1 needs ``1.0e-4`` and reads
    ``lr=1e-4`` as a string)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)


def read_yaml_file(path: str | Path) -> Any:
    """A YAML file parsed as configs are (YAML 1.2 floats); ConfigError naming the file if it cannot be read."""
    try:
        return _load_yaml(Path(path).read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from None

SECTIONS = ("name", "description", "model", "data", "loss", "optimizer", "scheduler", "trainer", "eval")


class ConfigError(ValueError):
    """A config file or override is malformed; the message names the file or key."""


def list_configs() -> list[str]:
    """Names of the configs shipped with the package (``gaitedge train --config <name>``)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def _resolve(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.is_file():
        return p
    shipped = CONFIG_DIR / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    raise ConfigError(f"config {str(name_or_path)!r} is neither a file nor a shipped config; shipped configs: "
                      f"{', '.join(list_configs())}")


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"a.b.0.c=value"`` → (``["a", "b", "0", "c"]``, the value parsed as YAML: ``x=yes`` is True, ``x='yes'``
    the string, ``x=[1,2]`` a list, ``x=1e-4`` a float; an empty value is None)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key=value (dotted keys, e.g. trainer.total_iter=100)")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r} has an empty key part")
    try:
        value = _load_yaml(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise ConfigError(f"cannot parse the value of override {text!r}: {e}") from None
    return key.split("."), value


def apply_overrides(cfg: dict, overrides: Iterable[str]) -> dict:
    """Return a copy of ``cfg`` with each ``key=value`` applied; list items are addressed by index."""
    cfg = copy.deepcopy(cfg)
    for text in overrides:
        keys, value = parse_override(text)
        node: Any = cfg
        for i, k in enumerate(keys[:-1]):
            if isinstance(node, list):
                node = node[_index(node, k, text)]
            elif isinstance(node, dict):
                if k not in node or node[k] is None:
                    node[k] = {}
                node = node[k]
            else:
                raise ConfigError(f"override {text!r}: {'.'.join(keys[:i + 1])} is a {type(node).__name__}, "
                                  "not a section")
        last = keys[-1]
        if isinstance(node, list):
            node[_index(node, last, text)] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise ConfigError(f"override {text!r}: parent of {last!r} is not a section")
    return cfg


def _index(node: list, key: str, text: str) -> int:
    try:
        idx = int(key)
        node[idx]
        return idx
    except (ValueError, IndexError):
        raise ConfigError(f"override {text!r}: {key!r} is not a valid index into a list of {len(node)}") from None


def load_config(name_or_path: str | Path | Mapping, overrides: Iterable[str] = ()) -> dict:
    """Load a config (shipped name, YAML/JSON path, or an already-built dict), apply overrides, check sections."""
    if isinstance(name_or_path, Mapping):
        cfg, origin = copy.deepcopy(dict(name_or_path)), "<dict>"
    else:
        path = _resolve(name_or_path)
        origin = str(path)
        try:
            text = path.read_text()
        except OSError as e:
            raise ConfigError(f"cannot read config {path}: {e}") from None
        try:
            cfg = json.loads(text) if path.suffix == ".json" else _load_yaml(text)
        except (ValueError, yaml.YAMLError) as e:
            raise ConfigError(f"config {path} is not valid YAML/JSON: {e}") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"config {origin} must be a mapping at top level, got {type(cfg).__name__}")
    cfg = apply_overrides(cfg, overrides)
    unknown = set(cfg) - set(SECTIONS)
    if unknown:
        raise ConfigError(f"config {origin}: unknown top-level keys {sorted(unknown)}; allowed: {list(SECTIONS)}")
    for sec in ("model", "data", "trainer"):
        if not isinstance(cfg.get(sec), dict):
            raise ConfigError(f"config {origin}: section {sec!r} is missing or not a mapping")
    cfg["_origin"] = origin
    return cfg


def section(cls, cfg: Mapping | None, where: str):
    """Build dataclass ``cls`` from a config mapping, naming unknown keys and bad types."""
    cfg = dict(cfg or {})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(cfg) - names
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(names)}")
    try:
        return cls(**cfg)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from None


@dataclasses.dataclass
class TrainerConfig:
    """The ``trainer`` section."""

    total_iter: int = 1000
    log_every: int = 50
    save_every: int = 1000
    eval_every: int = 0
    keep_last: int = 2
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"             # auto | on | off | bf16 | fp16 (auto: fp16 on CUDA, off on CPU; on: bf16 on CPU)
    channels_last: bool = False
    cpu_block_cache: bool = False  # keep freed large CPU blocks for reuse (gaitedge.block_cache): same bits, faster
    sync_bn: bool = False
    find_unused_parameters: bool = False
    grad_clip: float = 0.0
    num_workers: int = 0
    threads: int = 0              # torch.set_num_threads on CPU; 0 leaves the default

    def __post_init__(self) -> None:
        for f in ("total_iter", "log_every", "save_every", "eval_every", "keep_last", "seed", "num_workers",
                  "threads"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"trainer.{f} must be a non-negative integer, got {v!r}")
        if self.total_iter < 1:
            raise ValueError(f"trainer.total_iter must be >= 1, got {self.total_iter}")
        if not isinstance(self.cpu_block_cache, bool):
            raise ValueError(f"trainer.cpu_block_cache must be true or false, got {self.cpu_block_cache!r}")
        if self.amp not in ("auto", "on", "off", "bf16", "fp16"):
            raise ValueError(f"trainer.amp must be auto|on|off|bf16|fp16, got {self.amp!r}")


@dataclasses.dataclass
class OptimizerConfig:
    """The ``optimizer`` section. ``groups``: ``[{"match": "name-prefix", "lr": ...}]``, first match wins."""

    type: str = "Adam"
    lr: float = 1e-4
    weight_decay: float = 5e-4
    momentum: float = 0.9
    groups: list = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        if self.type not in ("Adam", "AdamW", "SGD"):
            raise ValueError(f"optimizer.type must be Adam|AdamW|SGD, got {self.type!r}")
        if not float(self.lr) > 0:
            raise ValueError(f"optimizer.lr must be > 0, got {self.lr!r}")
        self.lr = float(self.lr)
        self.weight_decay = float(self.weight_decay)
        for g in self.groups:
            if not isinstance(g, dict) or "match" not in g:
                raise ValueError(f"optimizer.groups entries need a 'match' key, got {g!r}")


@dataclasses.dataclass
class SchedulerConfig:
    """The ``scheduler`` section: multi-step decay, stepped every iteration."""

    milestones: list = dataclasses.field(default_factory=list)
    gamma: float = 0.1

    def __post_init__(self) -> None:
        if any(not isinstance(m, int) or m < 1 for m in self.milestones):
            raise ValueError(f"scheduler.milestones must be positive integers, got {self.milestones!r}")
        if sorted(self.milestones) != list(self.milestones):
            raise ValueError(f"scheduler.milestones must be increasing, got {self.milestones!r}")
