"""Import a FREEDM DGI configuration (``freedm.cfg``, ``adapter.xml``, ``device.xml``,
``timings.cfg``) as a site file of this project (pure: texts in, TOML text and notes out).

:func:`convert` does it (:mod:`config.freedm.convert` says what maps to what);
``dgi import-freedm`` reads the files and writes the result.
"""

from config.freedm.convert import API_PORT_BASE, ImportResult, convert, parse_local
from config.freedm.sources import FreedmError, Note, Source

__all__ = [
    "API_PORT_BASE",
    "FreedmError",
    "ImportResult",
    "Note",
    "Source",
    "convert",
    "parse_local",
]
