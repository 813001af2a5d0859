"""Model registry: ``@register_model`` on a factory, ``create_model(name, **kwargs)``, ``list_models()``."""

from __future__ import annotations

import fnmatch
from typing import Callable, Dict, List, Optional, TypeVar

from torch import nn

__all__ = ["register_model", "create_model", "list_models", "model_factory"]

_F = TypeVar("_F", bound=Callable[..., nn.Module])
_MODELS: Dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[_F], _F]:
    """Register a factory under ``name`` (case-sensitive, must be unique)."""

    def wrap(fn: _F) -> _F:
        if name in _MODELS:
            raise ValueError(f"model name {name!r} is already registered")
        _MODELS[name] = fn
        return fn

    return wrap


def list_models(pattern: Optional[str] = None) -> List[str]:
    """Sorted registered names, optionally filtered by a shell-style ``pattern`` (e.g. ``"GaitGL*"``)."""
    names = sorted(_MODELS)
    return [n for n in names if pattern is None or fnmatch.fnmatchcase(n, pattern)]


def model_factory(name: str) -> Callable[..., nn.Module]:
    """The factory registered as ``name``; ValueError listing the known names otherwise."""
    try:
        return _MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model name {name!r}; registered: {', '.join(list_models())}") from None


def create_model(name: str, **kwargs) -> nn.Module:
    """Build the model registered as ``name`` with keyword arguments for its constructor.

    Example:
        >>> model = create_model("GaitGL", num_classes=74)
    """
    return model_factory(name)(**kwargs)
