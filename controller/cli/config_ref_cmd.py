"""``dgi config-reference``: write ``docs/configuration.md`` from the schema
(:mod:`config.reference`), or check that it is current."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

#: Where the reference is committed (relative to the repository).
REFERENCE_FILE = Path("docs/configuration.md")


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
        from config.reference import UndocumentedKey, reference

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
