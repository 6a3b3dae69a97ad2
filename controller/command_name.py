"""How to call ``dgi`` from here, for the commands that hints and errors suggest."""

from __future__ import annotations

import shutil
import sys
from functools import cache
from pathlib import Path


@cache
def dgi_command() -> str:
    """``dgi`` when the shell finds this installation's ``dgi`` by that name (an activated
    virtual environment), else its path: ``.venv/bin/dgi`` from the repository, absolute
    from elsewhere."""
    beside = Path(sys.executable).parent / "dgi"
    on_path = shutil.which("dgi")
    if not beside.exists() or (on_path and Path(on_path).resolve() == beside.resolve()):
        return "dgi"
    absolute = beside.absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)
