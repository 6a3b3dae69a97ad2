"""Logging set-up for the command-line tools."""

from __future__ import annotations

import logging


def setup_logging(verbose: int = 0, *, quiet: bool = False) -> None:
    """INFO for our modules (DEBUG with -v, WARNING when ``quiet``, e.g. under a live view).

    pymodbus logs only with -vv: the drivers log failures on their edges already.
    """
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    logging.getLogger("pymodbus").setLevel(logging.DEBUG if verbose > 1 else logging.CRITICAL)
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if verbose > 1 else logging.WARNING)
