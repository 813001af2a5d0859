"""On-disk formats: gaitedge's native ``.npy`` layout, OpenGait's ``.pkl`` layout, and the restricted unpickler."""

from . import native, opengait
from .native import NativeStore
from .opengait import OpenGaitStore, load_partition, write_partition
from .safe_pickle import CorruptPickleError, UnsafePickleError, safe_load_pkl, save_pkl

__all__ = ["native", "opengait", "NativeStore", "OpenGaitStore", "load_partition", "write_partition",
           "UnsafePickleError", "CorruptPickleError", "safe_load_pkl", "save_pkl", "open_store"]  # fmt: skip


def open_store(root, layout: str = "auto", cache: bool = False):
    """Open a dataset root: ``layout`` "native", "opengait", or "auto" (native when ``index.json`` exists)."""
    if layout == "auto":
        layout = "native" if native.is_native_root(root) else "opengait"
    if layout == "native":
        return NativeStore(root)
    if layout == "opengait":
        return OpenGaitStore(root, cache=cache)
    raise ValueError(f"layout must be 'auto', 'native' or 'opengait', got {layout!r}")
