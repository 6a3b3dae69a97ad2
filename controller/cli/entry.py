"""The ``dgi`` entry point: a stop signal is quiet from the first moment.

Until a command installs its own handling (:func:`controller.cli.lifecycle.stoppable`), Ctrl-C
or SIGTERM — say, while the libraries are still being imported — ends the program with the
conventional status 128 + the signal number, and no traceback. The signal is also recorded
(:data:`EARLY`): Python runs a handler between any two bytecodes, and an exception it raises
inside a callback whose exceptions are ignored (the import machinery's lock callbacks, a
finaliser) is lost — the recorded signal then ends the program after the imports, or stops the
command as soon as it takes the signals over.
"""

from __future__ import annotations

import signal
from types import FrameType

EARLY: list[int] = []  # stop signals that came before a command took the signals over


def _stop_early(signum: int, frame: FrameType | None) -> None:
    EARLY.append(signum)
    raise SystemExit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGINT, _stop_early)
    signal.signal(signal.SIGTERM, _stop_early)
    from controller.cli.app import main as cli

    if EARLY:  # its SystemExit was lost in an import callback
        raise SystemExit(128 + EARLY[0])
    cli()
