"""The pure-PyTorch reference of each op, next to the ops they check (defined in :mod:`gaitedge._ops_reference`)."""

from .._ops_reference import *  # noqa: F401,F403
from .._ops_reference import __all__  # noqa: F401
