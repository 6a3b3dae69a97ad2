"""The group key file: owner-only permissions, several keys for rotation, one that signs.

Format (TOML)::

    signing = "grp-2026-11"            # the key id new datagrams are signed with
    [keys]
    grp-2026-11 = "<64+ hex digits>"   # every listed key is accepted when receiving
    grp-2026-10 = "<64+ hex digits>"
"""

from __future__ import annotations

import os
import secrets
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path

from config.files import SecretFileError, read_secret
from controller.command_name import dgi_command

MIN_KEY_BYTES = 32


class KeyFileError(Exception):
    """The key file is missing, unsafe or malformed; the message says which and how to fix it."""


@dataclass(frozen=True)
class Keyring:
    signing_id: str
    keys: dict[str, bytes]

    @property
    def signing_key(self) -> bytes:
        return self.keys[self.signing_id]


def load_keyring(path: Path) -> Keyring:
    """Read a key file, refusing one that others can read, that is not a regular file, or
    that is malformed."""
    try:
        text, info = read_secret(path)
    except FileNotFoundError:
        raise KeyFileError(
            f"{path}: key file not found (create one with: {dgi_command()} keygen {path})"
        ) from None
    except SecretFileError as exc:
        raise KeyFileError(f"group key file: {exc}") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{path}: group key readable by others (mode {stat.filemode(info.st_mode)}); "
            f"the file must be owner-only: chmod 600 {path}"
        )
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise KeyFileError(f"{path}: owned by uid {info.st_uid}, not by this user ({os.getuid()})")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KeyFileError(f"{path}: malformed key file: {exc}") from None
    return _keyring(path, raw)


def _keyring(path: Path, raw: dict[str, object]) -> Keyring:
    table = raw.get("keys")
    signing = raw.get("signing")
    if not isinstance(table, dict) or not table:
        raise KeyFileError(f"{path}: needs a [keys] table with at least one key")
    keys = {}
    for kid, text in table.items():
        try:
            secret = bytes.fromhex(str(text))
        except ValueError:
            raise KeyFileError(f"{path}: keys.{kid}: not hexadecimal") from None
        if len(secret) < MIN_KEY_BYTES:
            raise KeyFileError(
                f"{path}: keys.{kid}: {len(secret)} bytes; at least {MIN_KEY_BYTES} needed"
            )
        if len(kid.encode()) > 255:
            raise KeyFileError(f"{path}: keys.{kid}: key id longer than 255 bytes")
        keys[kid] = secret
    if not isinstance(signing, str) or signing not in keys:
        raise KeyFileError(f"{path}: signing = {signing!r} must name one of the [keys]")
    return Keyring(signing, keys)


def write_key_file(path: Path, key_id: str = "group-1") -> Keyring:
    """Create a new key file with a random 32-byte key, readable by its owner only."""
    secret = secrets.token_hex(MIN_KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(f'signing = "{key_id}"\n\n[keys]\n{key_id} = "{secret}"\n')
    return Keyring(key_id, {key_id: bytes.fromhex(secret)})
