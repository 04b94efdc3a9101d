"""The `ptnet` command. One file per noun; each defers heavy imports into its commands.

Errors never escape as tracebacks: usage errors become one line on stderr and exit code 2.
"""

import sys

import typer
from typer._click import exceptions as click_exc  # typer >= 0.29 vendors click

from ptnet.cli import bench, build, doctor, kernel, lab, setup
from ptnet.cli import chain as chain_cli
from ptnet.cli import host as host_cli
from ptnet.cli import image as image_cli
from ptnet.cli import port as port_cli
from ptnet.cli import vm as vm_cli
from ptnet.errors import PtnetError

app = typer.Typer(
    name="ptnet",
    help="netmap-compatible packet I/O, ptnetmap passthrough, and NFV VM chains.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(kernel.app, name="kernel")
app.add_typer(build.app, name="build")
app.add_typer(lab.app, name="lab")
app.add_typer(bench.app, name="bench")
app.add_typer(port_cli.app, name="port")
app.add_typer(vm_cli.app, name="vm")
app.add_typer(image_cli.app, name="image")
app.add_typer(chain_cli.app, name="chain")
app.add_typer(host_cli.app, name="host")
app.command("setup")(setup.setup)
app.command("doctor")(doctor.doctor)


def _plain_help(typer_app: typer.Typer) -> None:
    """Help in click's plain layout for `typer_app` and every group under it: typer's rich layout
    writes a type after each flag (`--dry-run <bool>`), which takes no value."""
    typer_app.rich_markup_mode = None
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _plain_help(group.typer_instance)


_plain_help(app)


def main(argv: list[str] | None = None) -> None:
    command = typer.main.get_command(app)
    try:
        rc = command.main(args=argv, prog_name="ptnet", standalone_mode=False)
    except typer.Exit as exc:
        rc = exc.exit_code
    except click_exc.UsageError as exc:
        # A bare noun (no_args_is_help) has already printed its help and has no message.
        if message := exc.format_message():
            where = f"{exc.ctx.command_path}: " if exc.ctx else ""
            print(f"ptnet: error: {where}{message}", file=sys.stderr)
        rc = 2
    except typer.Abort:
        print("ptnet: interrupted", file=sys.stderr)
        rc = 130
    except PtnetError as exc:
        print(f"ptnet: error: {exc}", file=sys.stderr)
        rc = exc.exit_code
    except KeyboardInterrupt:
        print("ptnet: interrupted", file=sys.stderr)
        rc = 130
    sys.exit(rc if isinstance(rc, int) else 0)
