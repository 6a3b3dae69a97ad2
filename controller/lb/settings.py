"""Load-balancing settings, derived from the site's ``[algorithm]`` table and timings."""

from __future__ import annotations

from dataclasses import dataclass

from config.settings import AlgorithmSettings
from config.timings import Timings

#: Migration amounts are multiples of this (kW): sums of setpoint changes then stay exact,
#: also after a trip through float32 registers.
QUANTUM = 2.0**-10


@dataclass(frozen=True)
class LbSettings:
    mode: str = "adaptive"
    step: float = 1.0  # FREEDM migration step
    step_max: float = 10.0  # adaptive: ramp limit per migration
    tolerance: float = 0.01  # adaptive: dead band and smallest migration
    malicious: bool = False
    check_invariant: bool = False
    early_close: bool = True
    multi_demand: bool = True
    request_timeout_s: float = 0.04
    resend_s: float = 0.02
    lease_s: float = 0.2  # adaptive: a select unanswered this long is aborted
    give_up_s: float = 60.0  # adaptive: a transaction still undecided is reported unresolved
    retention_s: float = 120.0  # adaptive: transaction outcomes are remembered this long
    table_every_s: float = 5.0
    max_amount: float = 1.0e6
    reconcile: str = "reassert"  # or "adopt": what a device/command disagreement leads to
    peer_stale_s: float = 3.72  # a peer not heard from this long is shown stale (3 cycles)
    setpoint_tolerance: float = 0.001  # kW: a held setpoint this close is the command
    cycle_s: float = 1.24  # one GM + SC + LB cycle: how long a feeder's announcement counts

    @property
    def adaptive(self) -> bool:
        return self.mode == "adaptive"

    @classmethod
    def from_site(cls, algorithm: AlgorithmSettings, timings: Timings) -> LbSettings:
        request = timings.LB_REQUEST_TIMEOUT / 1000
        resend = max(timings.CSRC_RESEND_TIME / 1000, 0.005)
        cycle_s = (timings.GM_PHASE_TIME + timings.SC_PHASE_TIME + timings.LB_PHASE_TIME) / 1000
        return cls(
            mode=algorithm.mode,
            step=algorithm.migration_step,
            step_max=algorithm.step_max,
            tolerance=algorithm.tolerance,
            malicious=algorithm.malicious,
            check_invariant=algorithm.check_invariant,
            early_close=algorithm.early_close,
            multi_demand=algorithm.multi_demand,
            request_timeout_s=request,
            resend_s=resend,
            lease_s=max(4 * request, 4 * resend),
            max_amount=algorithm.max_amount,
            reconcile=algorithm.reconcile,
            peer_stale_s=algorithm.peer_stale_s or 3 * cycle_s,
            setpoint_tolerance=algorithm.setpoint_tolerance_kw,
            cycle_s=cycle_s,
        )
