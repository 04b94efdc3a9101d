"""The preflight of a chain's remote hosts, before anything starts anywhere.

For each remote host of the plan, in parallel (one thread per host and check, each bounded by
`timeout` seconds):

- libvirt answers at the host's URI (libvirt-python; a qemu+ssh URI gets no_tty=1, so that SSH
  never stops to ask for a password);
- over SSH (OpenSSH's client, BatchMode, ConnectTimeout), one command reports whether netmap.ko
  is loaded (/sys/module/netmap), whether our QEMU is there (at the path the domain XML names:
  a host runs the same build at the same path), and which ptnet the same interpreter path
  imports there, which must be ours.

The bound is PTNET_HOST_TIMEOUT seconds when set (hosts that are slow to answer, such as the lab
pair's TCG guests), else DEFAULT_TIMEOUT. Every failure of every host is gathered into one line,
each naming its host and what failed, and raised as HostCheckFailed (exit code 2): the chain is
not started on any host. The local host is checked where the lifecycle opens its ports
(/dev/netmap), as for a chain on one host.
"""

import math
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import ptnet
from ptnet.backend.libvirt import libvirt_uri
from ptnet.errors import PtnetError, UsageError
from ptnet.model.chain_hosts import HostSpec
from ptnet.plan.chain import ChainPlan

NETMAP_SYSFS = "/sys/module/netmap"
DEFAULT_TIMEOUT = 20.0
TIMEOUT_ENV = "PTNET_HOST_TIMEOUT"


class HostCheckFailed(PtnetError):
    """A host of the chain is not ready: nothing was started. Exit code 2 (fix the host first)."""

    exit_code = 2


@dataclass(frozen=True)
class Expect:
    """What every remote host must have: our QEMU at `qemu`, and ptnet `version` importable by
    `python` (the interpreter path that runs ptnet here)."""

    qemu: str
    python: str = sys.executable
    version: str = ptnet.__version__


def our_qemu() -> str:
    """Where our QEMU is (ptnet build qemu), built or not: the path each domain XML names."""
    from ptnet.build import qemu as qemu_build

    return str(qemu_build.version_dir(qemu_build.load_pin()) / "build" / qemu_build.BINARY)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def check_libvirt(host: HostSpec, timeout: float) -> list[str]:
    """What is wrong with the host's libvirt (nothing: [])."""
    import libvirt

    assert host.uri is not None
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    try:
        conn = libvirt.open(libvirt_uri(host.uri))
    except libvirt.libvirtError as exc:
        return [f"libvirt at {host.uri} does not answer: {_one_line(exc.get_error_message())}"]
    try:
        conn.getLibVersion()
    except libvirt.libvirtError as exc:
        return [f"libvirt at {host.uri}: {_one_line(exc.get_error_message())}"]
    finally:
        conn.close()
    return []


def remote_script(expect: Expect) -> str:
    """The one shell command the preflight runs on a host: KEY=VALUE lines."""
    module, qemu = shlex.quote(NETMAP_SYSFS), shlex.quote(expect.qemu)
    version = shlex.join([expect.python, "-c", "import ptnet; print(ptnet.__version__)"])
    return (
        f"echo netmap=$(test -d {module} && echo yes || echo no); "
        f"echo qemu=$(test -x {qemu} && echo yes || echo no); "
        f"echo ptnet=$({version} 2>/dev/null || echo none)"
    )


def ssh_argv(target: str, timeout: float, command: str) -> list[str]:
    """OpenSSH's client, never prompting, giving up on a connection after `timeout`."""
    wait = max(1, int(timeout))
    return ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={wait}", "--", target, command]


def check_ssh(host: HostSpec, expect: Expect, timeout: float) -> list[str]:
    """What is wrong with the host as SSH finds it (nothing: [])."""
    assert host.ssh is not None
    argv = ssh_argv(host.ssh, timeout, remote_script(expect))
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return [f"ssh {host.ssh}: no answer in {timeout:g} s"]
    except FileNotFoundError:
        return ["ssh: OpenSSH's client is not installed here (apt-get install openssh-client)"]
    facts = dict(line.partition("=")[::2] for line in proc.stdout.splitlines() if "=" in line)
    if proc.returncode != 0 or not {"netmap", "qemu", "ptnet"} <= facts.keys():
        why = _one_line(proc.stderr) or f"exit code {proc.returncode}"
        return [f"ssh {host.ssh} failed: {why}"]
    problems = []
    if facts["netmap"] != "yes":
        problems.append(f"netmap.ko is not loaded (no {NETMAP_SYSFS})")
    if facts["qemu"] != "yes":
        problems.append(f"our QEMU is not at {expect.qemu} (ptnet build qemu)")
    if facts["ptnet"] != expect.version:
        found = "none" if facts["ptnet"] == "none" else f"ptnet {facts['ptnet']}"
        problems.append(
            f"{expect.python} imports {found} there, and this is ptnet {expect.version}"
        )
    return problems


def _gather(
    checks: list[tuple[str, Callable[[], list[str]]]], timeout: float
) -> dict[str, list[str]]:
    """Run every (host, check) at once in daemon threads; a check still running after `timeout`
    is reported as such and left behind (libvirt's open cannot be cancelled)."""
    found: dict[int, list[str]] = {}

    def run(i: int, check: Callable[[], list[str]]) -> None:
        try:
            found[i] = check()
        except Exception as exc:  # noqa: BLE001 (reported with its host, never a traceback)
            found[i] = [f"{type(exc).__name__}: {_one_line(str(exc))}"]

    threads = []
    for i, (_, check) in enumerate(checks):
        t = threading.Thread(target=run, args=(i, check), daemon=True, name=f"preflight-{i}")
        t.start()
        threads.append(t)
    deadline = time.monotonic() + timeout + 1
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    out: dict[str, list[str]] = {}
    for i, (name, _) in enumerate(checks):
        out.setdefault(name, []).extend(found.get(i, [f"no answer in {timeout:g} s"]))
    return out


def host_timeout() -> float:
    """The seconds each check of a host may take: PTNET_HOST_TIMEOUT, else DEFAULT_TIMEOUT."""
    raw = os.environ.get(TIMEOUT_ENV)
    if raw is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 < value <= 3600:
        raise UsageError(f"{TIMEOUT_ENV}={raw!r}: expected seconds, above 0 and at most 3600")
    return value


def preflight(
    plan: ChainPlan, *, timeout: float | None = None, expect: Expect | None = None
) -> None:
    """Check every remote host of `plan` (see the module's doc); raise HostCheckFailed naming
    each host that failed and what failed. A chain on the local host only checks nothing."""
    remote = [h for h in plan.hosts if h.remote]
    if not remote:
        return
    if timeout is None:
        timeout = host_timeout()
    want = expect or Expect(our_qemu())
    checks: list[tuple[str, Callable[[], list[str]]]] = []
    for h in remote:
        checks.append((h.name, lambda h=h: check_libvirt(h, timeout)))
        checks.append((h.name, lambda h=h: check_ssh(h, want, timeout)))
    problems = _gather(checks, timeout)
    failed = [f"host {name}: {'; '.join(p)}" for name, p in problems.items() if p]
    if failed:
        raise HostCheckFailed(
            f"chain {plan.spec.name}: not started, a host is not ready: " + " | ".join(failed)
        )
