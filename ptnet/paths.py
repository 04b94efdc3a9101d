"""Where ptnet keeps its files: XDG cache and state directories, never the source tree.

PTNET_CACHE_DIR and PTNET_STATE_DIR override the defaults (tests and CI use them).
"""

import os
from pathlib import Path

import platformdirs


def cache_dir() -> Path:
    return Path(os.environ.get("PTNET_CACHE_DIR") or platformdirs.user_cache_dir("ptnet"))


def state_dir() -> Path:
    return Path(os.environ.get("PTNET_STATE_DIR") or platformdirs.user_state_dir("ptnet"))


def kernels_dir() -> Path:
    return cache_dir() / "kernels"


def builds_dir() -> Path:
    return cache_dir() / "build"


def lab_runs_dir() -> Path:
    return state_dir() / "lab-runs"


def source_root() -> Path:
    """The project checkout this package runs from (kernel/, guest/, tests/ live here)."""
    return Path(__file__).resolve().parent.parent
