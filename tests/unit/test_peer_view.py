"""The one view of a peer's state (``peer_view``, ``shown_state``): what it recorded for the
last state collection, how long ago, stale after ``peer_stale_s`` — never its last state as
if current; pure."""

from __future__ import annotations

import dataclasses

from controller.lb.load_table import shown_state
from controller.lb.settings import LbSettings
from tests.lb_link import Link

SETTINGS = dataclasses.replace(LbSettings(mode="adaptive"), peer_stale_s=3.0)


def test_a_peer_is_unknown_then_its_state_then_stale_then_its_state_again() -> None:
    link = Link.of(SETTINGS, a=(0.0, 5.0), b=(0.0, -5.0))
    a = link.cores["a"]
    assert shown_state(a.peer_view("b", link.now)) == "unknown"
    assert a.residual(link.now) == a.net_generation - a.predicted  # only itself

    link.start_phase()
    link.round()  # b finds itself in demand ...
    assert link.cores["b"].state == "demand"
    assert shown_state(a.peer_view("b", link.now)) == "normal"  # ... a saw it before that
    link.collect()  # the next state collection carries it
    view = a.peer_view("b", link.now)
    assert (view.state, view.stale) == ("demand", False)
    assert view.age_s is not None
    assert view.age_s < SETTINGS.peer_stale_s
    assert view.status is not None
    assert view.status.net_generation == -5.0
    heard = a.residual(link.now)

    later = link.now + 3.5  # no collection for longer than the stale time
    view = a.peer_view("b", later)
    assert view.stale
    assert view.age_s is not None
    assert view.age_s >= 3.5
    assert shown_state(view) == "stale"
    assert a.residual(later) == a.net_generation - a.predicted  # b left the residual
    assert a.residual(later) != heard

    link.now = later
    link.collect()  # collected again
    assert shown_state(a.peer_view("b", link.now)) == link.cores["b"].state
