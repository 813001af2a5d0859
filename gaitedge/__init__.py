"""gaitedge: fused ops, layers, models and protocols for end-to-end gait recognition (GaitEdge, ECCV 2022).

Sub-packages load lazily, so ``import gaitedge.data``, ``import gaitedge.models`` or ``import gaitedge.nn`` works even
where the compiled extension is not built; ``import gaitedge.ops`` (and every ``backend="fused"`` layer, the default)
needs ``gaitedge._C``.
"""

import importlib

__version__ = "0.1.0"
__all__ = ["ops", "nn", "models", "data", "training", "evaluation", "__version__"]


def __getattr__(name: str):
    if name in __all__ and name != "__version__":
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
