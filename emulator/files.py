"""File identity, for the watches of the config file and the ADC file."""

from __future__ import annotations

import os
from pathlib import Path


def signature(path: Path) -> tuple[int, int, int] | None:
    """What changes when a file is written in place or replaced by a rename."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino
