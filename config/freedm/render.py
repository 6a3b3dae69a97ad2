"""An imported site as TOML text, laid out like ``config/examples/rtds-pscad.toml`` (pure).

The file opens with a comment block: where it came from, FREEDM uuid → node id, and every
note on what was not carried over, so the file says what it lacks.
"""

from __future__ import annotations

import json

from config.freedm.plan import Plan
from config.rtds import RtdsEntry


def _string(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)


def _number(value: float) -> str:
    return repr(float(value))


def _comment(text: str) -> str:
    return " ".join(text.split())


def render(plan: Plan) -> str:
    lines = _header(plan)
    lines += [
        "[site]",
        f"name = {_string(plan.site_name)}",
        f"description = {_string('Imported from a FREEDM DGI configuration')}",
        'key_file = "group.key"        # dgi keygen group.key (relative to this file)',
        'api_token_file = "api.token"  # dgi api-token api.token',
        "",
        "[algorithm]",
        'mode = "freedm"  # FREEDM\'s fixed-step drafting ("adaptive" is this project\'s own)',
        f"migration_step = {_number(plan.migration_step)}  # migration-step",
        f"malicious = {str(plan.malicious).lower()}  # malicious-behavior",
        f"check_invariant = {str(plan.check_invariant).lower()}  # check-invariant",
        "",
        "[timings]",
    ]
    note = f"  # {_comment(plan.timings_note)}" if plan.timings_note else ""
    lines.append(f"profile = {_string(plan.timings_profile)}{note}")
    lines += [f"{key} = {value}" for key, value in plan.timings.items()]
    for adapter in plan.adapters:
        lines += [
            "",
            "[[rtds]]",
            f"name = {_string(adapter.name)}",
            f"host = {_string(adapter.host)}",
            f"port = {adapter.port}",
            f"delay_ms = {_number(adapter.delay_ms)}      # DEV_RTDS_DELAY",
            f"timeout_ms = {_number(adapter.timeout_ms)}  # DEV_SOCKET_TIMEOUT",
            *_table("states", adapter.states),
            *_table("commands", adapter.commands),
        ]
    for node in plan.nodes:
        lines += [
            "",
            "[[nodes]]",
            f"id = {_string(node.id)}  # FREEDM {_comment(node.uuid)}",
            f"api = {_string(node.api)}",
            f"peer = {_string(node.peer)}",
        ]
        for device in plan.devices if node.local else []:
            lines += [
                "",
                "[[nodes.devices]]",
                f"id = {_string(device.id)}" + _freedm_name(device.id, device.freedm),
                f"type = {_string(device.type)}",
                'transport = "rtds"',
                f"adapter = {_string(device.adapter)}",
            ]
    return "\n".join(lines) + "\n"


def _freedm_name(device_id: str, freedm: str) -> str:
    return "" if device_id == freedm else f"  # FREEDM {_comment(freedm)}"


def _table(name: str, entries: list[RtdsEntry]) -> list[str]:
    if not entries:
        return [f"{name} = []"]
    rows = [
        f"  {{ index = {e.index}, device = {_string(e.device)}, signal = {_string(e.signal)} }},"
        for e in entries
    ]
    return [f"{name} = [", *rows, "]"]


def _header(plan: Plan) -> list[str]:
    lines = ["# Imported from a FREEDM DGI configuration by dgi import-freedm:"]
    lines += [f"#   {role}: {_comment(name)}" for role, name in plan.files]
    lines += ["#", "# Nodes (FREEDM uuid host:port -> node id; the peer address is the uuid's):"]
    for node in plan.nodes:
        local = "  (the DGI of this freedm.cfg: it has the devices)" if node.local else ""
        lines.append(f"#   {_comment(node.uuid)} -> {node.id}{local}")
    lines.append("#")
    if plan.notes:
        lines.append(f"# Not carried over ({len(plan.notes)}):")
        lines += [f"#   {_comment(str(note))}" for note in plan.notes]
    else:
        lines.append("# Everything was carried over.")
    return [*lines, ""]
