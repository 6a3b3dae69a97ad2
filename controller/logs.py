"""Logging set-up for the command-line tools."""

from __future__ import annotations

import logging


def setup_logging(verbose: int = 0) -> None:
    """INFO for our modules (DEBUG with -v); pymodbus only when -vv, since drivers log the edges."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    logging.getLogger("pymodbus").setLevel(logging.DEBUG if verbose > 1 else logging.CRITICAL)
