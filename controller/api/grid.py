"""The grid at a node's substation, as its status and snapshot show it: defined once here,
built by the node from its readings (:mod:`controller.node.snapshot`), read by the status API,
the metrics and the page.

The values come from the node's grid meter (its first ``Meter`` device, by id), e.g. the
grid plant's AC power flow (``dgi demo --plant pandapower``) or a PMU at the bus. Each is
null when the node has no meter, the meter is stale (a stale meter's last values are not
shown as current) or it gave no value (a power flow that did not converge).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from controller.core.readings import GridReading


class Grid(BaseModel):
    """The bus of this node's substation."""

    meter: str | None = Field(description="the grid meter's device id; null: the node has none")
    fresh: bool = Field(description="the meter answered recently (false without a meter)")
    voltage_pu: float | None = Field(description="bus voltage magnitude (per unit)")
    loading_percent: float | None = Field(
        description="the highest loading of the lines at the bus (% of their rating)"
    )
    trafo_loading_percent: float | None = Field(
        description="loading of the transformer feeding the feeder (%); null if not metered"
    )
    grid_import_kw: float | None = Field(
        description="power drawn from the feeder at the bus (kW, + = import)"
    )

    @classmethod
    def of(cls, reading: GridReading | None) -> Grid:
        if reading is None:
            return cls(
                meter=None,
                fresh=False,
                voltage_pu=None,
                loading_percent=None,
                trafo_loading_percent=None,
                grid_import_kw=None,
            )
        return cls(
            meter=reading.meter,
            fresh=reading.fresh,
            voltage_pu=reading.voltage,
            loading_percent=reading.loading,
            trafo_loading_percent=reading.trafo_loading,
            grid_import_kw=reading.grid_import,
        )
