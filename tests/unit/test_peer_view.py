"""The one view of a peer's state (``peer_view``, ``shown_state``): what it last said, how long
ago, stale after ``peer_stale_s`` — never its last state as if current; pure."""

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
    link.cycle()
    view = a.peer_view("b", link.now)
    assert (view.state, view.stale) == (link.cores["b"].state, False)
    assert view.age_s is not None
    assert view.age_s < SETTINGS.peer_stale_s
    assert shown_state(view) == link.cores["b"].state
    heard = a.residual(link.now)

    later = link.now + 3.5  # b said nothing for longer than the stale time
    view = a.peer_view("b", later)
    assert view.stale
    assert view.age_s is not None
    assert view.age_s >= 3.5
    assert shown_state(view) == "stale"
    assert a.residual(later) == a.net_generation - a.predicted  # b left the residual
    assert a.residual(later) != heard

    link.now = later
    link.cycle()  # b speaks again
    assert shown_state(a.peer_view("b", link.now)) == link.cores["b"].state
