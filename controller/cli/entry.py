"""The ``dgi`` entry point: a stop signal is quiet from the first moment.

Until a command installs its own handling (:func:`controller.cli.lifecycle.stoppable`), Ctrl-C
or SIGTERM — say, while the libraries are still being imported — ends the program with the
conventional status 128 + the signal number, and no traceback.
"""

from __future__ import annotations

import signal
from types import FrameType


def _stop_early(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGINT, _stop_early)
    signal.signal(signal.SIGTERM, _stop_early)
    from controller.cli.app import main as cli

    cli()
