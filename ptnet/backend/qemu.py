"""The qemu backend: QEMU run directly (daemonized), supervised through QMP with qemu.qmp.

QEMU daemonizes once its devices are set up, so a bad command line or a taken port fails
`start` with QEMU's own message. Afterwards the VM is found by its pid file, and a pid is only
trusted while /proc/PID/cmdline still names the VM's runtime directory (pids are reused).
"""

import asyncio
import contextlib
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from ptnet import host
from ptnet.backend import base
from ptnet.errors import PtnetError
from ptnet.model.vm import BackendName
from ptnet.plan.qemu_argv import Launch, qemu_argv

QMP_TIMEOUT = 5.0
QUIT_GRACE = 5.0


def run_qmp(socket_path: str, commands: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Connect to a QMP socket, run `commands` in order, return their results."""
    from qemu.qmp import QMPClient
    from qemu.qmp.error import QMPError

    async def session() -> list[Any]:
        client = QMPClient("ptnet")
        await asyncio.wait_for(client.connect(socket_path), QMP_TIMEOUT)
        try:
            return [
                await asyncio.wait_for(client.execute(cmd, args or None), QMP_TIMEOUT)
                for cmd, args in commands
            ]
        finally:
            await client.disconnect()

    try:
        return asyncio.run(session())
    except (QMPError, OSError, TimeoutError, EOFError) as exc:
        what = ", ".join(c for c, _ in commands)
        raise PtnetError(
            f"QMP {what} on {socket_path} failed: {exc or type(exc).__name__}"
        ) from exc


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return []
    return [] if state in ("Z", "X") else raw.decode(errors="replace").split("\0")


def pid_is_vm(pid: int, run_dir: str) -> bool:
    """True while `pid` is a live (not zombie) QEMU whose pid file is in `run_dir`."""
    return f"{run_dir}/qemu.pid" in _cmdline(pid)


def wait_gone(pid: int, run_dir: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_is_vm(pid, run_dir):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class QemuBackend(base.Backend):
    name = "qemu"

    def render(self, launch: Launch) -> str:
        return shlex.join(qemu_argv(launch))

    def start(self, launch: Launch, record: base.Record) -> None:
        argv = qemu_argv(launch)
        Path(launch.run_dir, "qemu.argv").write_text(shlex.join(argv) + "\n")
        host.log(f"starting {launch.spec.name}: {argv[0]} ({launch.accel})")
        proc = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines()
            detail = lines[-1] if lines else f"exit code {proc.returncode}"
            raise PtnetError(f"QEMU did not start {launch.spec.name}: {detail}")
        record.pid = int(Path(launch.pidfile).read_text().strip())
        status = run_qmp(launch.qmp_socket, [("query-status", {})])[0]
        if status.get("status") != "running":
            raise PtnetError(f"QEMU of {launch.spec.name} is {status.get('status')}, not running")

    def alive(self, record: base.Record) -> bool:
        return record.pid is not None and pid_is_vm(record.pid, record.run_dir)

    def stop(self, record: base.Record) -> None:
        if not self.alive(record):
            return
        assert record.pid is not None
        with contextlib.suppress(PtnetError):
            # QEMU may close the socket before its reply to quit arrives; waiting tells.
            run_qmp(str(Path(record.run_dir) / "qmp.sock"), [("quit", {})])
        if not wait_gone(record.pid, record.run_dir, QUIT_GRACE):
            os.kill(record.pid, signal.SIGKILL)
            if not wait_gone(record.pid, record.run_dir, QUIT_GRACE):
                raise PtnetError(f"QEMU of {record.name} (pid {record.pid}) does not die")

    def discover(self) -> list[base.Record]:
        """QEMU processes whose pid file lies in this lab's runtime dir, state file or not."""
        prefix = f"{base.runtime_dir()}/vms/"
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            argv = _cmdline(int(entry.name))
            if "-pidfile" not in argv:
                continue
            pidfile = argv[argv.index("-pidfile") + 1]
            if not pidfile.startswith(prefix) or not pidfile.endswith("/qemu.pid"):
                continue
            run_dir = pidfile.removesuffix("/qemu.pid")
            name = run_dir.removeprefix(prefix)
            found.append(
                base.Record(
                    name=name,
                    backend=BackendName.qemu,
                    settings={"name": name},
                    ports=[],
                    image={},
                    ssh_port=_ssh_port(argv),
                    run_dir=run_dir,
                    console_log=str(base.console_log(name)),
                    known_hosts=str(base.known_hosts(name)),
                    accel=argv[argv.index("-accel") + 1] if "-accel" in argv else "",
                    pid=int(entry.name),
                )
            )
        return found

    def qmp(self, record: base.Record, command: str, arguments: dict[str, Any]) -> Any:
        return run_qmp(str(Path(record.run_dir) / "qmp.sock"), [(command, arguments)])[0]


def _ssh_port(argv: list[str]) -> int:
    for a in argv:
        if "hostfwd=tcp:127.0.0.1:" in a:
            return int(a.split("hostfwd=tcp:127.0.0.1:", 1)[1].split("-", 1)[0])
    return 0
