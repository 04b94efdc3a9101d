"""`ptnet image`: guest images built from the recipes in images/ (cached by their inputs)."""

import json
from typing import Annotated

import typer

from ptnet.cli.output import Format, FormatChoice, emit_table

app = typer.Typer(help="Build and list guest images.", no_args_is_help=True)


@app.command()
def build(
    name: Annotated[str, typer.Argument(help="The recipe: images/NAME/.")] = "default",
    rebuild: Annotated[
        bool, typer.Option(help="Build even when the cached one is current.")
    ] = False,
) -> None:
    """Build image NAME unless the cached build matches its inputs; print its manifest (JSON)."""
    from ptnet.build import image

    print(json.dumps(image.ensure(name, rebuild=rebuild).manifest, indent=2))


@app.command("list")
def list_images(fmt: Format = FormatChoice.table) -> None:
    """The recipes and their cached builds (current: built from today's inputs)."""
    from ptnet.build import image
    from ptnet.errors import PtnetError
    from ptnet.plan import image as recipes

    current: dict[str, str] = {}
    for name in recipes.available():
        try:
            current[name] = image.current(name).key
        except PtnetError:
            current[name] = ""
    rows = []
    for img in image.built():
        m = img.manifest
        rows.append(
            {
                "name": img.name,
                "key": img.key,
                "current": img.key == current.get(img.name),
                "kernel": m["kernel"],
                "mb": round(m["initrd_bytes"] / 1e6, 1),
                "build_s": m["build_seconds"],
                "built": m["built"],
                "dir": str(img.dir),
            }
        )
    built_keys = {r["key"] for r in rows}
    for name, key in sorted(current.items()):
        if key not in built_keys:
            rows.append({"name": name, "key": key, "current": True, "built": "(not built)"})
    if fmt is FormatChoice.json:
        print(json.dumps(rows, indent=2))
        return
    emit_table(rows, ["name", "key", "current", "kernel", "mb", "build_s", "built"])
