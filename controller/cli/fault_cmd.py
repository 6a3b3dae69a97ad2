"""``dgi fault``: send a fault command to a running ``dgi simulate`` (its control interface)."""

from __future__ import annotations

import json
import math
import socket
from typing import Any

Json = dict[str, Any]
_WORDS = {
    "nan": math.nan,
    "inf": math.inf,
    "+inf": math.inf,
    "-inf": -math.inf,
    "none": None,
    "null": None,
    "true": True,
    "false": False,
}


class FaultCommandError(ValueError):
    """A setting on the command line is not KEY=VALUE."""


def parse_value(text: str) -> object:
    """``30`` → 30.0, ``nan`` → NaN, ``true`` → True, ``none`` → None (removes a value)."""
    word = text.strip().lower()
    if word in _WORDS:
        return _WORDS[word]
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text and "e" not in word else number


def parse_settings(items: list[str]) -> Json:
    """``["latency_ms=30", "values.generation=nan"]`` → ``{"latency_ms": 30, "values": {...}}``."""
    faults: Json = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise FaultCommandError(f"{item!r}: settings are KEY=VALUE (for example latency_ms=30)")
        value = parse_value(text)
        if "." in key:
            group, _, name = key.partition(".")
            faults.setdefault(group, {})[name] = value
        else:
            faults[key] = value
    return faults


def command_for(device: str | None, settings: list[str], action: str | None) -> Json:
    """The control command the command line asks for (``--clear`` alone: every device)."""
    if action == "clear" and device is None:
        return {"op": "clear", "device": "*"}
    if action == "show" or (device is None and action is None and not settings):
        return {"op": "show"}
    if device is None:
        raise FaultCommandError(f"--{action} needs a DEVICE" if action else "give a DEVICE")
    if action == "plant":
        if not settings:
            raise FaultCommandError("--plant needs STATE=VALUE settings (for example state=0)")
        return {"op": "plant", "device": device, "states": parse_settings(settings)}
    if action is not None:
        if settings:
            raise FaultCommandError(f"--{action} takes no KEY=VALUE settings")
        return {"op": action, "device": device}
    if not settings:
        raise FaultCommandError(f"give KEY=VALUE settings for {device}, or --clear, --restart...")
    return {"op": "set", "device": device, "faults": parse_settings(settings)}


def send(address: tuple[str, int], command: Json, timeout_s: float = 5.0) -> Json:
    """One command, one answer."""
    with socket.create_connection(address, timeout=timeout_s) as conn:
        conn.sendall(json.dumps(command).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    answer: Json = json.loads(data) if data else {"ok": False, "error": "no answer"}
    return answer
