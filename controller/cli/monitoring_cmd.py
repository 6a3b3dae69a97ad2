"""``dgi prometheus-config`` and ``dgi openapi``: files generated from a site and from the code."""

from __future__ import annotations

import json
from typing import Any

from config.site import Site

SCRAPE_INTERVAL = "5s"


def prometheus_config(site: Site, *, rules: str = "rules.yml") -> str:
    """Scrape configuration for a site: one target per node, labelled by node and substation."""
    lines = [
        f"# Prometheus configuration for site {site.name} (written by: dgi prometheus-config)",
        "global:",
        f"  scrape_interval: {SCRAPE_INTERVAL}",
        f"  evaluation_interval: {SCRAPE_INTERVAL}",
        "rule_files:",
        f"  - {rules}",
        "scrape_configs:",
        "  - job_name: dgi",
        "    metrics_path: /metrics",
        "    static_configs:",
    ]
    for node in site.nodes:
        lines += [
            f'      - targets: ["{node.api}"]',
            "        labels:",
            f"          node: {node.id}",
            f"          substation: {node.id}",
            f"          site: {site.name}",
        ]
    return "\n".join(lines) + "\n"


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document, as the code defines it."""
    from controller.api.app import ApiState, create_app, fixed_token
    from controller.api.metrics import new_registry

    app = create_app(ApiState("node"), registry=new_registry(), tokens=fixed_token(None))
    return app.openapi()


def openapi_text() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"
