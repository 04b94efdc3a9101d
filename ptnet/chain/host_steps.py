"""The steps a chain across hosts runs on each of its hosts, and how they run there.

Each host's steps (ptnet/plan/chain.py: setup_commands and teardown_commands) run as one shell
script: on this host through `sh -c`, on a remote host as one command over `ssh` to its SSH
target (one connection per host and command, not one per step). A remote host also gets the
directories its NFs' domains name (the runtime directory, the console logs' directory), which
exist on this host only, and loses them on teardown.

Setup converges: a step that finds its object already there (a pipe parent, an attached uplink,
a VXLAN device) is not an error, so that `create` runs again over a chain that runs. Teardown
runs every step whatever the previous ones did, since some objects may be gone already; only
reaching the host can fail it (ssh's exit code 255).
"""

import shlex
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ptnet.chain.hosts import ssh_argv
from ptnet.errors import PtnetError
from ptnet.plan import chain as chain_plan

SSH_UNREACHABLE = 255  # OpenSSH's exit code when it cannot connect or authenticate


class HostUnreachable(PtnetError):
    """The host's SSH target did not answer."""


@dataclass
class HostRecord:
    """One host of a chain as the chain record keeps it: enough for destroy without the plan."""

    name: str
    uri: str | None  # its libvirt; None for this host
    ssh: str | None  # its SSH target; None for this host
    setup: list[list[str]] = field(default_factory=list)
    teardown: list[list[str]] = field(default_factory=list)

    @property
    def remote(self) -> bool:
        return self.ssh is not None


def host_records(
    plan: chain_plan.ChainPlan,
    *,
    tool: Callable[[str], str],
    dirs: Callable[[str], Sequence[str]],
    files: Callable[[str], Sequence[str]],
) -> list[HostRecord]:
    """Every host of `plan` with its steps. `tool` gives a C tool's path (the same on every
    host), `dirs` the directories a VM's domain names and `files` the files it leaves there
    (by VM name)."""
    out = []
    for h in plan.hosts:
        setup = [_resolve(s, tool) for s in chain_plan.setup_commands(plan, h.name)]
        teardown = [_resolve(s, tool) for s in chain_plan.teardown_commands(plan, h.name)]
        if h.remote:
            vms = [p.vm.name for p in plan.nfs if p.nf.host == h.name]
            made = sorted({d for vm in vms for d in dirs(vm)})
            setup.insert(0, ["mkdir", "-p", "-m", "700", *made])
            left = [*sorted({f for vm in vms for f in files(vm)})]
            teardown.append(["rm", "-rf", *left])
        out.append(HostRecord(h.name, h.uri, h.ssh, setup, teardown))
    return out


def _resolve(step: tuple[str, ...], tool: Callable[[str], str]) -> list[str]:
    return [tool(step[0]) if step[0] == chain_plan.VALE_CTL else step[0], *step[1:]]


def setup_script(steps: Sequence[Sequence[str]]) -> str:
    """Run `steps` in order, stopping at the first that fails, except where what it makes is
    already there ("exists", "busy"); the failed step and its output on stderr."""
    lines = [
        'step() { out=$("$@" 2>&1) && return 0; case $out in *xists*|*usy*) return 0;; esac; '
        'printf \'%s: %s\\n\' "$*" "$(echo $out)" >&2; exit 1; }'
    ]
    lines += [f"step {shlex.join(s)}" for s in steps]
    return "\n".join(lines) + "\n"


def teardown_script(steps: Sequence[Sequence[str]]) -> str:
    """Run every step of `steps`, whatever each does (its object may be gone already)."""
    return "".join(f"{shlex.join(s)} >/dev/null 2>&1\n" for s in steps) + "true\n"


def argv(host: HostRecord, script: str, timeout: float) -> list[str]:
    """Where `script` runs: `sh -c` here, one ssh command on a remote host."""
    if host.ssh is None:
        return ["sh", "-c", script]
    return ssh_argv(host.ssh, timeout, script)


def run(host: HostRecord, script: str, timeout: float) -> None:
    """Run `script` on `host`; HostUnreachable when SSH cannot reach it, PtnetError when the
    script fails, each naming the host."""
    try:
        proc = subprocess.run(
            argv(host, script, timeout), capture_output=True, text=True, check=False
        )
    except FileNotFoundError as exc:
        raise PtnetError(f"host {host.name}: {exc}") from exc
    why = " ".join(proc.stderr.split()) or f"exit code {proc.returncode}"
    if host.remote and proc.returncode == SSH_UNREACHABLE:
        raise HostUnreachable(f"host {host.name}: ssh {host.ssh} failed: {why}")
    if proc.returncode != 0:
        raise PtnetError(f"host {host.name}: {why}")
