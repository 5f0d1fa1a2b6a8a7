"""Where the lab keeps things. ``D2L_LAB_HOME`` moves everything (tests point it at a temp dir)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "d2l-lab"


def home() -> Path:
    """Run history: the SQLite index and one folder per run."""
    override = os.environ.get("D2L_LAB_HOME")
    return Path(override) if override else Path(platformdirs.user_data_dir(APP))


def data_cache() -> Path:
    """Downloaded and imported datasets."""
    override = os.environ.get("D2L_LAB_HOME")
    return Path(override) / "data" if override else Path(platformdirs.user_cache_dir(APP))


def kernels_cache() -> Path:
    """Compiled kernels (lab/models/native.py), one build per machine and torch. Not under
    ``D2L_LAB_HOME``: a temporary home (the tests') still finds what ``make`` built."""
    override = os.environ.get("D2L_LAB_KERNELS")
    return Path(override) if override else Path(platformdirs.user_cache_dir(APP)) / "kernels"
