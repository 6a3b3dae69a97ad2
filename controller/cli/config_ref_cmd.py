"""``dgi config-reference``: write ``docs/configuration.md`` from the schema
(:mod:`config.reference`), or check that it is current. The site and profile files are
:mod:`config`'s; the ``dgi sim`` scenario file, whose schema is :mod:`controller.sim.schema`
and :mod:`controller.sim.events`, is added here, with the descriptions of its keys that no
comment gives."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from config.reference import File, render, sections_of, site_files

#: Where the reference is committed (relative to the repository).
REFERENCE_FILE = Path("docs/configuration.md")


#: ``Model.field`` -> description, for the scenario's keys without a comment.
SCENARIO_DESCRIPTIONS: dict[str, str] = {
    "ScenarioDocument.site": "the site file (relative to the scenario); none: [generate]",
    "ScenarioDocument.topology": "a FREEDM topology file (relative to the scenario)",
    "ScenarioDocument.events": "the timed events, each a table with a kind (below)",
    "ScenarioHeader.name": "the scenario's name",
    "ScenarioHeader.description": "free text",
    "ScenarioHeader.duration_s": "virtual seconds to run",
    "ScenarioHeader.seed": "the seed of every random choice (a seed gives byte-identical output)",
    "Range.min": "the least value drawn",
    "Range.max": "the most value drawn",
    "GenerateSettings.nodes": "how many substations",
    "GenerateSettings.feeders": "over how many feeders",
    "GenerateSettings.gateway_kw": "each node's gateway at start",
    "GenerateSettings.generation_kw": "each node's generation",
    "GenerateSettings.load_kw": "each node's load",
    "GenerateSettings.timings": "the timing profile",
    "GenerateSettings.mode": "the algorithm mode",
    "GenerateSettings.capacity_kw": "each node's capacity_kw",
    "GenerateSettings.lag_s": "each SST's lag_s",
    "NetworkSettings.drop": "the fraction of datagrams lost",
    "NetworkSettings.duplicate": "the fraction delivered twice",
    "NetworkSettings.reorder": "the fraction held back by reorder_delay_s",
    "NetworkSettings.delay_s": "every datagram's delay",
    "NetworkSettings.jitter_s": "plus up to this much more, at random",
    "NetworkSettings.reorder_delay_s": "how long a reordered datagram is held back",
    "NetworkSettings.links": "lossy links",
    "LinkLoss.a": "one node",
    "LinkLoss.b": "the other node",
    "LinkLoss.drop": "the fraction lost on this link (1.0: the link is down)",
    "_Event.at_s": "when (virtual s since the start)",
    "_ProfileEvent.node": "the node",
    "_ProfileEvent.kw": "the new value (kW)",
    "_ProfileEvent.series": "or a series (steps or ramp), its times from at_s",
    "GatewaySetpointEvent.node": "the node",
    "GatewaySetpointEvent.kw": "the setpoint an operator writes to its SST (kW)",
    "EvArrivalsEvent.node": "the node the requests arrive at",
    "EvArrivalsEvent.count": "how many cars",
    "EvArrivalsEvent.power_kw": "each asks for this",
    "EvArrivalsEvent.energy_kwh": "and this much energy",
    "EvArrivalsEvent.over_s": "spread evenly over this long (0: all at once)",
    "CrashEvent.node": "the node that stops (no failsafe write, no goodbye)",
    "RestartEvent.node": "the node that starts again",
    "FidOpenEvent.fid": "the Fid that opens",
    "FidCloseEvent.fid": "the Fid that closes",
    "PartitionEvent.groups": "the node groups that can reach only each other",
    "PartitionEvent.feeders": "or: these feeders cut from the rest",
    "LinkLossEvent.a": "one node",
    "LinkLossEvent.b": "the other node",
    "LinkLossEvent.drop": "the fraction lost on this link from now on",
}
_EVENTS = ("Load", "Generation", "GatewaySetpoint", "EvArrivals", "Crash", "Restart", "FidOpen",
           "FidClose", "Partition", "Heal", "LinkLoss")  # fmt: skip
SCENARIO_DESCRIPTIONS.update({f"{name}Event.kind": "the event's kind" for name in _EVENTS})

_SCENARIO_INTRO = (
    "A scenario (`scenarios/*.toml`) is a site in virtual time with timed events "
    "(`docs/simulator.md`). Each `[[events]]` table has `kind` and the keys of its kind."
)


def scenario_file() -> File:
    """The scenario file: ``[scenario]``, ``[generate]``, ``[network]``, each event kind."""
    from controller.sim.events import EVENT_KINDS
    from controller.sim.schema import Range, ScenarioDocument

    known = SCENARIO_DESCRIPTIONS
    sections = [
        *sections_of(ScenarioDocument, "", descriptions=known),
        *sections_of(Range, "", title="a range: a number, or { min, max }", descriptions=known),
        *(
            section
            for kind, model in EVENT_KINDS.items()
            for section in sections_of(
                model, "events", title=f'kind = "{kind}"', descriptions=known
            )
        ),
    ]
    return ("The scenario file (dgi sim)", _SCENARIO_INTRO, sections)


def reference() -> str:
    """``docs/configuration.md``: the site, sim, profile and scenario files (raises
    :class:`config.reference.UndocumentedKey` naming every key without a description)."""
    return render([*site_files(), scenario_file()])


def register(app: typer.Typer) -> None:
    @app.command("config-reference")
    def config_reference(
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="write here, not to stdout")
        ] = None,
        check: Annotated[
            bool, typer.Option("--check", help="exit 1 if --output differs from the schema's")
        ] = False,
    ) -> None:
        """Every key of the site, profile and scenario files from the schema
        (docs/configuration.md is this, committed)."""
        from config.reference import UndocumentedKey

        try:
            text = reference()
        except UndocumentedKey as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
        if output is None:
            typer.echo(text, nl=False)
        elif check:
            current = output.read_text(encoding="utf-8") if output.is_file() else ""
            if current != text:
                typer.echo(f"{output} is not current: run dgi config-reference -o {output}")
                raise typer.Exit(1)
            typer.echo(f"{output} is current")
        else:
            output.write_text(text, encoding="utf-8")
