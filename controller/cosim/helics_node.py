"""``dgi cosim-node``: some of a site's nodes as one HELICS federate.

The nodes (:class:`controller.cosim.federated_nodes.FederatedNodes`) run in virtual time =
the federation's granted time. Each step, from grant t to grant t + step:

1. the nodes' rounds, phases and timers in [t, t + step) run, reading the devices' values
   last reported and the datagrams that arrived by t;
2. what they did is sent at t: each node's actuator writes on ``dgi/setpoints/<node>`` (one
   packed value per node), each datagram for another federate's node to its endpoint
   ``dgi/node/<to>``;
3. the federate asks for t + step and, granted, takes what came: the plant's
   ``dgi/plant/<node>`` values and the datagrams for its nodes.

So a write reaches the plant, and a datagram another federate, one step after it is made;
the plant's values reach the nodes one step after they are sampled. Keep the step well
below the site's request timeouts (``LB_REQUEST_TIMEOUT``: a round trip is two steps).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.cosim.federated_nodes import FederatedNodes
from controller.cosim.helics_federate import StepClock, h, join, leave, message_data, step_times
from controller.cosim.helics_plan import (
    federate_endpoint,
    node_endpoint,
    pack_setpoints,
    setpoints_topic,
    states_topic,
    unpack_states,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FederateSettings:
    name: str
    broker: str  # HOST:PORT
    core: str = "tcp"
    step_s: float = 0.01
    until_s: float = 10.0
    timeout_s: float = 10.0
    record: Path | None = None


class NodeFederate:
    """The HELICS face of :class:`FederatedNodes` (one combination federate)."""

    def __init__(self, nodes: FederatedNodes, settings: FederateSettings) -> None:
        self.nodes = nodes
        self.settings = settings
        self.published: list[tuple[float, str, str, str, float]] = []
        self.messages_sent = 0
        fed = self.fed = join(
            settings.name, settings.broker, settings.core, settings.step_s, settings.timeout_s
        )
        self.subs: dict[str, Any] = {}
        self.pubs: dict[str, Any] = {}
        self.endpoints: dict[str, Any] = {}
        for node in nodes.node_ids:
            self.subs[node] = fed.register_subscription(states_topic(node))
            self.pubs[node] = fed.register_global_publication(
                setpoints_topic(node), h.HELICS_DATA_TYPE_STRING
            )
            self.endpoints[node] = fed.register_global_endpoint(node_endpoint(node))
        self.out = fed.register_global_endpoint(federate_endpoint(settings.name))

    def run(self) -> dict[str, object]:
        """Step to ``until``, leave the federation; what happened (also to ``record``)."""
        clock = StepClock()
        try:
            self.fed.enter_executing_mode()
            self._take(0.0)
            now = 0.0
            for wanted in step_times(self.settings.step_s, self.settings.until_s):
                self.nodes.run_until(wanted)
                self._send(now)
                now = float(self.fed.request_time(wanted))
                clock.tick()
                self._take(now)
        finally:
            leave(self.fed)
        summary: dict[str, object] = {
            "federate": self.settings.name,
            "nodes": len(self.nodes.node_ids),
            "setpoints_published": len(self.published),
            "datagrams_sent": self.messages_sent,
            "datagrams_received": self.nodes.received,
            "refused_by_wires": self.nodes.refused(),
            "dropped": dict(self.nodes.dropped),
            **clock.summary(),
        }
        if self.settings.record is not None:
            self._write_record(self.settings.record, summary)
        return summary

    def _take(self, now: float) -> None:
        for node, sub in self.subs.items():
            if sub.is_updated():
                try:
                    self.nodes.report(node, unpack_states(sub.string))
                except ValueError as exc:
                    self.nodes.dropped["bad states value"] += 1
                    log.warning("%s: bad value on %s at %g: %s", self.settings.name,
                                states_topic(node), now, exc)  # fmt: skip
        for node, endpoint in self.endpoints.items():
            while endpoint.has_message():
                self.nodes.deliver(node, message_data(endpoint.get_message()))

    def _send(self, now: float) -> None:
        for node, writes in self.nodes.take_writes().items():
            self.pubs[node].publish(pack_setpoints(writes))
            self.published.extend((now, node, d, s, v) for d, s, v in writes)
        for to, datagram in self.nodes.take_sent():
            try:
                self.out.send_data(datagram, node_endpoint(to))
                self.messages_sent += 1
            except h.HelicsException:
                self.nodes.dropped["datagram not sent"] += 1

    def _write_record(self, path: Path, summary: dict[str, object]) -> None:
        record = {
            "summary": summary,
            "published": [
                {"time": round(t, 9), "node": n, "device": d, "signal": s, "value": v}
                for t, n, d, s, v in self.published
            ],
            "beliefs": {
                n: {"command": c, "held": p} for n, (c, p) in self.nodes.group.beliefs().items()
            },
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1))
