"""`ptnet vm`: VMs with netmap ports on direct QEMU (default) or libvirt, reached over SSH."""

import json
import sys
from typing import Annotated

import typer

from ptnet.cli.output import Format, FormatChoice, emit_table
from ptnet.model.vm import BackendName, PortMode

app = typer.Typer(
    help="Boot, reach and stop VMs with netmap ports (QEMU direct or libvirt).",
    no_args_is_help=True,
)
port_app = typer.Typer(help="Hot-plug netmap ports into a running VM (QMP).", no_args_is_help=True)
app.add_typer(port_app, name="port")


Name = Annotated[str, typer.Argument(help="The VM's name.", show_default=False)]
COLUMNS = ("name", "backend", "state", "ssh", "image", "cpus", "mem_mb", "ports")


def _print(rows: list[dict[str, object]], fmt: FormatChoice, single: bool = False) -> None:
    if fmt is FormatChoice.json:
        print(json.dumps(rows[0] if single else rows, indent=2))
        return
    table = [{**r, "ports": " ".join(str(p) for p in r.get("ports") or []) or "-"} for r in rows]
    if single:
        for k, v in table[0].items():
            print(f"{k + ':':15} {v if v is not None else '-'}")
        return
    emit_table(table, COLUMNS)


@app.command()
def up(
    name: Name,
    ports: Annotated[
        list[str] | None,
        typer.Option("--port", "-p", metavar="SPEC", help="A netmap port: vale1:10, pipeA{1, ..."),
    ] = None,
    image: Annotated[str, typer.Option(help="Guest image recipe (images/NAME).")] = "default",
    cpus: Annotated[int, typer.Option(help="Virtual CPUs.")] = 1,
    mem: Annotated[str, typer.Option(help="Memory: a size (512M, 2G) or MiB.")] = "512M",
    backend: Annotated[BackendName, typer.Option(help="Who runs QEMU.")] = BackendName.qemu,
    port_mode: Annotated[
        PortMode, typer.Option(help="ptnet passthrough, or QEMU copying into virtio-net.")
    ] = PortMode.passthrough,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the QEMU command line or domain XML only.")
    ] = False,
    fmt: Format = FormatChoice.table,
) -> None:
    """Start VM NAME and return once SSH answers and its ports are up (idempotent)."""
    from ptnet.model.ports import parse_port
    from ptnet.model.vm import VmSpec, parse_mem
    from ptnet.vm import lifecycle

    spec = VmSpec(
        name=name,
        image=image,
        cpus=cpus,
        mem_mb=parse_mem(mem),
        backend=backend,
        port_mode=port_mode,
        ports=tuple(parse_port(p) for p in ports or []),
    )
    if dry_run:
        print(lifecycle.dry_run(spec))
        return
    record, started = lifecycle.up(spec)
    if not started:
        print(f"ptnet: {name} is already up", file=sys.stderr)
    _print([lifecycle.status(record)], fmt, single=True)


@app.command()
def down(
    name: Annotated[str | None, typer.Argument(help="The VM's name.", show_default=False)] = None,
    all_vms: Annotated[bool, typer.Option("--all", help="Every VM of this lab.")] = False,
) -> None:
    """Stop VM NAME (or --all) and remove its processes, sockets and state."""
    from ptnet.errors import UsageError
    from ptnet.vm import lifecycle

    if all_vms == (name is not None):
        raise UsageError("give a VM name or --all (not both)")
    if all_vms:
        for n in lifecycle.down_all():
            print(f"ptnet: {n} is down", file=sys.stderr)
        return
    assert name is not None
    if lifecycle.down(name):
        print(f"ptnet: {name} is down", file=sys.stderr)
    else:
        print(f"ptnet: no VM named {name}; nothing to do", file=sys.stderr)


@app.command("list")
def list_vms(fmt: Format = FormatChoice.table) -> None:
    """The VMs of this lab, from local state and from what the backends see."""
    from ptnet.vm import lifecycle

    _print([lifecycle.status(r) for r in lifecycle.discovered()], fmt)


@app.command()
def show(name: Name, fmt: Format = FormatChoice.table) -> None:
    """Everything ptnet knows about VM NAME."""
    from ptnet.vm import lifecycle

    _print([lifecycle.status(lifecycle.find(name))], fmt, single=True)


Command = Annotated[list[str] | None, typer.Argument(help="The command, after --.")]


@app.command()
def ssh(name: Name, command: Command = None) -> None:
    """Open an SSH session in VM NAME (or run COMMAND), with the host key pinned."""
    import os

    from ptnet.guest import ssh as guest_ssh
    from ptnet.vm import lifecycle

    argv = guest_ssh.openssh_argv(lifecycle.target(lifecycle.find(name)), command or [])
    sys.stdout.flush()
    os.execv(argv[0], argv)


@app.command("exec")
def exec_(
    name: Name,
    command: Command = None,
    timeout: Annotated[float, typer.Option(help="Seconds before the command is abandoned.")] = 3600,
) -> None:
    """Run COMMAND in VM NAME over SSH; stream its output and exit with its exit code."""
    import shlex

    from ptnet.errors import UsageError
    from ptnet.guest import ssh as guest_ssh
    from ptnet.vm import lifecycle

    words = command or []
    if not words:
        raise UsageError("no command given; put it after --, as in: ptnet vm exec NAME -- uname -r")
    result = guest_ssh.run(
        lifecycle.target(lifecycle.find(name)),
        shlex.join(words),
        timeout=timeout,
        stdout=sys.stdout.buffer,
        stderr=sys.stderr.buffer,
    )
    raise typer.Exit(result.exit_code)


@app.command()
def console(name: Name) -> None:
    """Attach to VM NAME's serial console (a root shell); Ctrl-] detaches."""
    from ptnet.vm import console as vm_console
    from ptnet.vm import lifecycle

    vm_console.attach(lifecycle.find(name))


@app.command()
def validate(
    name: Name,
    peer: Annotated[
        str | None, typer.Option(help="Host-side port for the peer pkt-gen (default: derived).")
    ] = None,
    count: Annotated[int, typer.Option(min=1, help="Frames to send.")] = 1_000_000,
    size: Annotated[int, typer.Option(min=60, max=1514, help="Frame length in bytes.")] = 60,
    rate: Annotated[
        int,
        typer.Option(
            min=0,
            help="Frames per second from the peer (0: as fast as it can; a VALE switch"
            " drops what a slow guest cannot take).",
        ),
    ] = 0,
    fmt: Format = FormatChoice.table,
) -> None:
    """pkt-gen in the guest on its first port against a peer pkt-gen on the host: pass or fail."""
    from ptnet.vm.validate import validate as validate_vm

    verdict = validate_vm(name, peer=peer, count=count, size=size, rate=rate)
    if fmt is FormatChoice.json:
        print(json.dumps(verdict, indent=2))
    else:
        for k, v in verdict.items():
            print(f"{k + ':':15} {v}")
    raise typer.Exit(0 if verdict["verdict"] == "pass" else 1)


@port_app.command("add")
def port_add(name: Name, spec: Annotated[str, typer.Argument(help="The port spec.")]) -> None:
    """Hot-plug netmap port SPEC into VM NAME."""
    from ptnet.model.ports import parse_port
    from ptnet.vm import hotplug

    port = hotplug.port_add(name, parse_port(spec))
    print(f"ptnet: {port.spec} is {port.id} in {name} (MAC {port.mac})", file=sys.stderr)


@port_app.command("del")
def port_del(name: Name, spec: Annotated[str, typer.Argument(help="The port spec.")]) -> None:
    """Unplug netmap port SPEC from VM NAME."""
    from ptnet.model.ports import parse_port
    from ptnet.vm import hotplug

    hotplug.port_del(name, parse_port(spec))
    print(f"ptnet: {spec} is gone from {name}", file=sys.stderr)
