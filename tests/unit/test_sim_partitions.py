"""Group membership as a sequence of partitions (controller/sim/partitions.py)."""

from __future__ import annotations

import pytest

from controller.sim.partitions import (
    Observation,
    Span,
    bridged,
    of_samples,
    partition_of,
    settled,
    show,
    since,
    spans,
    whole,
)
from controller.sim.record import NodeSample, Sample

ALL = {"a": ("a.1.1", "a"), "b": ("a.1.1", "a"), "c": ("a.1.1", "a")}


def cells(*groups: str) -> frozenset[frozenset[str]]:
    return frozenset(frozenset(g) for g in groups)


def test_a_partition_groups_the_running_nodes_by_the_view_they_report() -> None:
    assert partition_of(ALL) == whole("abc")
    split: Observation = {"a": ("a.1.2", "a"), "b": ("a.1.2", "a"), "c": ("c.1.1", "c")}
    assert partition_of(split) == cells("ab", "c")
    # a node that does not run is in no cell; one alone is its own cell
    assert partition_of({"a": None, "b": ("", "b"), "c": ("", "c")}) == cells("b", "c")
    # the same id with another leader is another group (a stale view of a crashed leader)
    assert partition_of({"a": ("x", "a"), "b": ("x", "b")}) == cells("a", "b")
    assert partition_of({}) == frozenset()


def test_spans_collapse_equal_partitions_and_ignore_group_ids() -> None:
    observed = spans(
        [
            (0.0, ALL),
            (1.0, {n: ("a.1.2", "a") for n in "abc"}),  # re-formed, same members: no change
            (2.0, {"a": ("a.1.3", "a"), "b": ("a.1.3", "a"), "c": None}),
            (3.0, {"a": ("a.1.3", "a"), "b": ("a.1.3", "a"), "c": None}),
        ]
    )
    assert observed == [Span(whole("abc"), 0.0, 2.0), Span(whole("ab"), 2.0, 3.0)]
    assert observed[0].length == 2.0
    assert spans([]) == []
    with pytest.raises(ValueError, match="out of time order"):
        spans([(1.0, ALL), (0.5, ALL)])


def test_settled_drops_short_spans_but_keeps_the_last() -> None:
    observed = [
        Span(whole("abc"), 0.0, 10.0),
        Span(cells("ab", "c"), 10.0, 10.5),  # a transient: dropped, and abc continues
        Span(whole("abc"), 10.5, 20.0),
        Span(cells("ab"), 20.0, 26.0),
        Span(cells("ab", "c"), 26.0, 26.7),  # the restarted node alone, briefly
        Span(whole("abc"), 26.7, 27.0),  # the last: kept however short
    ]
    assert settled(observed, 1.0) == [whole("abc"), cells("ab"), whole("abc")]
    assert settled(observed, 0.1) == [
        whole("abc"),
        cells("ab", "c"),
        whole("abc"),
        cells("ab"),
        cells("ab", "c"),
        whole("abc"),
    ]
    assert settled([], 1.0) == []


def test_since_starts_at_the_first_span_of_a_partition() -> None:
    observed = [Span(cells("a", "b"), 0.0, 1.0), Span(whole("ab"), 1.0, 5.0)]
    assert since(observed, whole("ab")) == observed[1:]
    assert since(observed, whole("abc")) == []


def node(name: str, group: str, leader: str, *, up: bool = True) -> NodeSample:
    return NodeSample(
        node=name, feeder="f01", up=up, state="normal", gateway=0.0, net_generation=0.0,
        predicted=0.0, pstar=0.0, storage=None, group=group, leader=leader, k=0.0,
    )  # fmt: skip


def test_a_virtual_runs_samples_are_observations() -> None:
    samples = [
        Sample(0.0, (node("a", "", "a"), node("b", "", "b")), 376.8, 0, 0),
        Sample(0.25, (node("a", "a.1.1", "a"), node("b", "a.1.1", "a", up=False)), 376.8, 0, 0),
    ]
    observations = of_samples(samples)
    assert observations == [
        (0.0, {"a": ("", "a"), "b": ("", "b")}),
        (0.25, {"a": ("a.1.1", "a"), "b": None}),
    ]
    assert [s.partition for s in spans(observations)] == [cells("a", "b"), whole("a")]


def test_show() -> None:
    three = frozenset({frozenset({"sst3"}), frozenset({"sst2"}), frozenset({"sst1"})})
    assert show(three) == "{sst1} {sst2} {sst3}"
    assert show(frozenset({frozenset({"sst2", "sst1"}), frozenset({"sst3"})})) == (
        "{sst1,sst2} {sst3}"
    )
    assert show(frozenset()) == "{}"


def test_a_short_span_between_two_of_one_partition_bridges_them() -> None:
    # a leader's survivors: in its old group, each alone for a moment, together again; the
    # two spans of "bc" are each shorter than min_s but together they held
    observed = [
        Span(whole("abc"), 0.0, 10.0),
        Span(cells("bc"), 10.0, 11.5),
        Span(cells("b", "c"), 11.5, 13.0),
        Span(cells("bc"), 13.0, 16.0),
        Span(cells("a", "bc"), 16.0, 18.0),  # a restarted, alone: not bridged (bc differs)
        Span(whole("abc"), 18.0, 30.0),
    ]
    assert bridged(observed, 4.0) == [
        Span(whole("abc"), 0.0, 10.0),
        Span(cells("bc"), 10.0, 16.0),
        Span(cells("a", "bc"), 16.0, 18.0),
        Span(whole("abc"), 18.0, 30.0),
    ]
    assert settled(observed, 4.0) == [whole("abc"), cells("bc"), whole("abc")]
    # a long span between two of one partition is a change, not a transient
    long_ = [
        Span(whole("ab"), 0.0, 5.0),
        Span(cells("a", "b"), 5.0, 10.0),
        Span(whole("ab"), 10.0, 11.0),
    ]
    assert bridged(long_, 4.0) == long_
