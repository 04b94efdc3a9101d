"""Shared output helpers for the CLI: --format choice and plain tables on stdout."""

import enum
from collections.abc import Sequence
from typing import Annotated, Any

import typer


class FormatChoice(enum.StrEnum):
    table = "table"
    json = "json"


Format = Annotated[
    FormatChoice, typer.Option("--format", help="table for people, json for programs.")
]


def emit_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    widths = {c: max([len(c), *(len(str(r.get(c, ""))) for r in rows)]) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns).rstrip())
