"""The pure parts of OCPP: meter values, the charge point's state, the profiles a limit becomes,
and the simulated station's draw."""

from __future__ import annotations

from typing import Any

import pytest

from device_drivers.ocpp_state import (
    ENERGY,
    POWER,
    ChargePointState,
    MeterError,
    ProfileSpec,
    energy_wh,
    ocpp_time,
    power_kw,
    profiles_for,
)
from simulators.charge_point import limit_kw
from simulators.plant import ChargePointModel


def meter(*samples: dict[str, Any], at: str = "2026-05-01T12:00:00Z") -> list[dict[str, Any]]:
    return [{"timestamp": at, "sampled_value": list(samples)}]


@pytest.mark.parametrize(
    ("meter_values", "power", "energy"),
    [
        (meter({"value": "7400", "measurand": POWER, "unit": "W"}), 7.4, None),
        (meter({"value": "7.4", "measurand": POWER, "unit": "kW"}), 7.4, None),
        (meter({"value": "7400", "measurand": POWER}), 7.4, None),  # W is the default
        (meter({"value": "1234"}), None, 1234.0),  # no measurand: the energy register, Wh
        (meter({"value": "1.5", "measurand": ENERGY, "unit": "kWh"}), None, 1500.0),
        (meter({"value": "2000", "measurand": POWER, "phase": "L1"},
               {"value": "2500", "measurand": POWER, "phase": "L2"},
               {"value": "3000", "measurand": POWER, "phase": "L3"}), 7.5, None),
        (meter({"value": "2000", "measurand": POWER, "phase": "L1"},
               {"value": "7000", "measurand": POWER}), 7.0, None),  # the total wins
        (meter({"value": "9000", "measurand": POWER, "location": "EV"}), None, None),
        (meter({"value": "1000", "measurand": POWER}) + meter({"value": "3000", "measurand": POWER}),
         3.0, None),  # the newest
        (meter({"value": "1000", "measurand": POWER}) + meter({"value": "5", "measurand": ENERGY}),
         1.0, 5.0),  # each measurand's newest
        ([], None, None),
    ],
    ids=["watts", "kilowatts", "default-unit", "default-measurand", "kwh", "phases-summed",
         "total-over-phases", "ev-side-ignored", "newest", "each-newest", "empty"],
)  # fmt: skip
def test_meter_values_read(
    meter_values: list[dict[str, Any]], power: float | None, energy: float | None
) -> None:
    assert power_kw(meter_values) == (pytest.approx(power) if power is not None else None)
    assert energy_wh(meter_values) == energy


@pytest.mark.parametrize(
    ("sample", "message"),
    [
        ({"value": "lots", "measurand": POWER}, "sampled value 'lots' is not a number"),
        ({"value": "7", "measurand": POWER, "unit": "A"}, "Power.Active.Import in 'A': expected W or kW"),
        ({"value": "7", "unit": "varh"}, "Energy.Active.Import.Register in 'varh': expected Wh or kWh"),
    ],
)  # fmt: skip
def test_unreadable_meter_values_say_why(sample: dict[str, Any], message: str) -> None:
    with pytest.raises(MeterError, match=message):
        power_kw(meter(sample)) if sample.get("measurand") else energy_wh(meter(sample))


@pytest.mark.parametrize(
    ("limit", "transactions", "expected"),
    [
        (22.0, [], [ProfileSpec(0, "ChargePointMaxProfile", 1, 22000.0)]),
        (22.0, [(1, 7)], [ProfileSpec(0, "ChargePointMaxProfile", 1, 22000.0),
                          ProfileSpec(1, "TxProfile", 101, 22000.0, 7)]),
        (10.0, [(3, 9), (1, 8), (2, 4)], [ProfileSpec(0, "ChargePointMaxProfile", 1, 10000.0),
                                         ProfileSpec(1, "TxProfile", 101, 3333.3, 8),
                                         ProfileSpec(2, "TxProfile", 102, 3333.3, 4),
                                         ProfileSpec(3, "TxProfile", 103, 3333.3, 9)]),
        (0.0, [(1, 1)], [ProfileSpec(0, "ChargePointMaxProfile", 1, 0.0),
                         ProfileSpec(1, "TxProfile", 101, 0.0, 1)]),
    ],
    ids=["no-transaction", "one", "three-share-it", "zero-stops-them"],
)  # fmt: skip
def test_a_limit_becomes_the_station_cap_and_a_share_per_transaction(
    limit: float, transactions: list[tuple[int, int]], expected: list[ProfileSpec]
) -> None:
    specs = profiles_for(limit, transactions)
    assert specs == expected
    assert sum(s.limit_w for s in specs if s.purpose == "TxProfile") <= limit * 1000
    assert specs[0].describe() == f"ChargePointMaxProfile {limit:g} kW on connector 0"


@pytest.mark.parametrize(
    ("statuses", "transaction", "connected"),
    [
        ({1: "Available", 2: "Available"}, False, False),
        ({1: "Available", 2: "Preparing"}, False, True),
        ({1: "Charging"}, False, True),
        ({1: "SuspendedEV"}, False, True),
        ({1: "SuspendedEVSE"}, False, True),
        ({1: "Finishing"}, False, True),
        ({1: "Faulted"}, False, False),
        ({1: "Available"}, True, True),  # a transaction counts, whatever the status says
        ({0: "Charging"}, False, False),  # connector 0 is the whole station
    ],
)
def test_connected_when_a_connector_is_plugged_in_or_has_a_transaction(
    statuses: dict[int, str], transaction: bool, connected: bool
) -> None:
    state = ChargePointState()
    for connector, status in statuses.items():
        state.status(connector, status, "NoError")
    if transaction:
        state.start_transaction(1, 0)
    assert state.connected is connected


def test_power_is_the_sum_of_the_connectors_or_else_the_station_meter() -> None:
    state = ChargePointState()
    state.meter_values(0, None, meter({"value": "9000", "measurand": POWER}), now=1.0)
    assert state.power_kw == 9.0  # only the station's own meter reports
    state.meter_values(1, None, meter({"value": "3000", "measurand": POWER}), now=2.0)
    state.meter_values(2, None, meter({"value": "4000", "measurand": POWER}), now=2.0)
    assert state.power_kw == 7.0  # the connectors, not the station meter on top
    state.status(2, "Available", "NoError")
    assert state.power_kw == 3.0  # unplugged draws nothing
    assert state.last_heard == 2.0


def test_transactions_get_ids_and_end() -> None:
    state = ChargePointState()
    first, second = state.start_transaction(1, 100), state.start_transaction(2, 0)
    assert first != second
    assert state.transactions() == [(1, first), (2, second)]
    assert state.stop_transaction(first, 150) == 1
    assert state.connectors[1].energy_wh == 150.0
    assert state.stop_transaction(999, 0) is None  # not known here: nothing to end
    assert state.transactions() == [(2, second)]


def test_a_boot_ends_the_transactions() -> None:
    state = ChargePointState()
    state.start_transaction(1, 0)
    state.meter_values(1, None, meter({"value": "7000", "measurand": POWER}), now=1.0)
    state.boot("vendor", "model", now=2.0)
    assert state.transactions() == []
    assert state.power_kw == 0.0
    assert (state.vendor, state.booted_at) == ("vendor", 2.0)


def test_a_transaction_heard_of_only_in_meter_values_is_taken_up() -> None:
    """The node restarted while the charge point charged on: its transaction goes on."""
    state = ChargePointState()
    assert state.meter_values(3, 41, meter({"value": "7000", "measurand": POWER}), now=5.0)
    assert not state.meter_values(3, 41, meter({"value": "7000", "measurand": POWER}), now=6.0)
    assert state.transactions() == [(3, 41)]
    assert state.start_transaction(1, 0) != 41


def test_a_bad_meter_value_is_remembered_until_a_good_one() -> None:
    state = ChargePointState()
    state.meter_values(1, None, meter({"value": "NaN?", "measurand": POWER}), now=1.0)
    assert state.meter_problem == "connector 1: sampled value 'NaN?' is not a number"
    state.meter_values(1, None, meter({"value": "10", "measurand": POWER}), now=2.0)
    assert state.meter_problem is None
    assert state.power_kw == pytest.approx(0.01)


def test_ocpp_time_is_utc() -> None:
    assert ocpp_time(0.0) == "1970-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("schedule", "kw"),
    [
        ({"charging_rate_unit": "W", "charging_schedule_period": [{"start_period": 0, "limit": 7400.0}]}, 7.4),
        ({"charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": 16.0}]}, 11.04),
        ({"charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": 16.0, "number_phases": 1}]}, 3.68),
        ({"charging_rate_unit": "W", "charging_schedule_period": [{"start_period": 60, "limit": 1.0},
                                                                  {"start_period": 0, "limit": 2000.0}]}, 2.0),
    ],
    ids=["watts", "amps-three-phases", "amps-one-phase", "first-period"],
)  # fmt: skip
def test_the_simulator_reads_a_schedule_limit(schedule: dict[str, Any], kw: float) -> None:
    assert limit_kw(schedule) == pytest.approx(kw)


@pytest.mark.parametrize(
    ("demand", "charging", "tx_limits", "cap", "draw"),
    [
        (7.0, {1, 2}, {}, None, {1: 7.0, 2: 7.0}),
        (7.0, {1, 2}, {1: 3.0}, None, {1: 3.0, 2: 7.0}),
        (7.0, {1, 2}, {}, 7.0, {1: 3.5, 2: 3.5}),  # the station cap shares alike
        (7.0, {1, 2}, {1: 2.0}, 6.0, {1: 4 / 3, 2: 14 / 3}),  # scaled in proportion
        (7.0, {2}, {}, 20.0, {2: 7.0}),  # no transaction, no draw
        (7.0, {1}, {}, 0.0, {1: 0.0}),
    ],
    ids=["free", "tx-profile", "station-cap", "both", "only-transactions", "zero-cap"],
)  # fmt: skip
def test_a_station_draws_within_its_profiles(
    demand: float,
    charging: set[int],
    tx_limits: dict[int, float],
    cap: float | None,
    draw: dict[int, float],
) -> None:
    model = ChargePointModel(
        demand=lambda _t: demand, connectors=2, charging=charging, tx_limits=tx_limits
    )
    if cap is not None:
        model.command("power_limit", cap)
    model.advance(0.0, 0.0)
    assert model.draw == pytest.approx(draw)
    assert model.states["power"] == pytest.approx(sum(draw.values()))
    model.advance(3.6, 3.6)  # 3.6 s at P kW is P Wh
    assert model.energy_wh == pytest.approx(draw)
