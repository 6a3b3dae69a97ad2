"""The state a load balancer keeps, shared by its supply side, demand side and round."""

from __future__ import annotations

from collections.abc import Iterable

from controller.effects import Effect, Note, SetPStar
from controller.lb.rules import NORMAL
from controller.lb.settings import LbSettings
from controller.lb.transactions import DemandTx, SupplyTx
from controller.messages import Status
from controller.readings import Readings


class LbState:
    """Fields and the two helpers every part of the load balancer uses."""

    def __init__(
        self, node_id: str, peers: Iterable[str], settings: LbSettings, *, epoch: int
    ) -> None:
        self.node_id = node_id
        self.settings = settings
        self.peers = sorted(set(peers) - {node_id})
        self.leader = min([node_id, *self.peers])  # static group: the lowest id leads
        self.sets: dict[str, str] = dict.fromkeys(self.peers, NORMAL)  # FREEDM's peer sets
        self.peer_status: dict[str, Status] = {}
        self.state = NORMAL
        self.readings = Readings()
        self.gateway = 0.0  # G
        self.net_generation = 0.0  # NG
        self.predicted = 0.0  # PG
        self.k = 0.0  # K
        self.synced = False
        # supply side
        self.window = 0
        self.window_open = False
        self.solicited: set[str] = set()
        self.ages: dict[str, float] = {}
        self.tx_base = epoch << 20
        self.tx_count = 0
        self.supply_tx: dict[int, SupplyTx] = {}
        # demand side
        self.demand_tx: dict[tuple[str, int], DemandTx] = {}
        # figures
        self.migrations_in = 0
        self.migrations_out = 0
        self.moved_in = 0.0
        self.moved_out = 0.0

    def _set_pstar(self, kw: float, fx: list[Effect]) -> None:
        """SetPStar: the only place PStar changes; PG follows it."""
        self.predicted = kw
        fx.append(SetPStar(kw))

    @staticmethod
    def _note(fx: list[Effect], kind: str, text: str, level: str = "info", **data: object) -> None:
        fx.append(Note(kind, text, data, level))

    def _can_take(self) -> bool:
        """Fresh devices and not disabled by the Logger: the node may change its PStar."""
        return self.readings.fresh and self.readings.dgi_enable is not False
