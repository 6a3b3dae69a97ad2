"""What the FREEDM import reads and reports: a file's text, a note, a refusal (pure)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """One input file: the name it is shown as, and its text (the caller reads it)."""

    name: str
    text: str


@dataclass(frozen=True)
class Note:
    """Something of the FREEDM configuration the site does not carry over, and why."""

    file: str
    line: int | None
    entry: str  # the option, key, adapter, device type or entry it concerns
    why: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.entry}: {self.why}"


class FreedmError(Exception):
    """An input file that cannot be read as FREEDM reads it (its syntax, a required part):
    nothing is written."""

    def __init__(self, file: str, line: int | None, message: str) -> None:
        self.file = file
        self.line = line
        self.message = message
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {message}")
