"""SSH into ptnet guests: the per-lab client key, pinned host keys, and commands with deadlines.

The client key pair is generated once per state directory (the "lab") and baked into every image
as root's authorized key. Each image's host key is generated when the image is built, and a VM's
known_hosts file pins it for the forwarded port; paramiko is given a RejectPolicy, so an unknown
or changed host key is an error, never a prompt or a silent accept.
"""

import logging
import os
import select
import shlex
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ptnet import paths
from ptnet.errors import PtnetError
from ptnet.locking import file_lock

if TYPE_CHECKING:
    import paramiko

# paramiko's transport thread logs a failed handshake as a traceback on stderr (through logging's
# last-resort handler); connect() reports every failure as one PtnetError instead.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

USER = "root"
CONNECT_TIMEOUT = 10.0
# Upper bounds only: a guest nested in the lab (TCG inside TCG on a busy host) took more than 15 s
# to check the client's signature, and `vm validate` failed with paramiko's "No existing session".
BANNER_TIMEOUT = 60.0
AUTH_TIMEOUT = 60.0


def key_dir() -> Path:
    return paths.state_dir() / "ssh"


def client_key_path() -> Path:
    return key_dir() / "id_ed25519"


def client_key() -> tuple[Path, str]:
    """The lab's client private key file and its public key line, generated on first use."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    path = client_key_path()
    pub = path.with_suffix(".pub")
    with file_lock(key_dir() / ".lock"):
        if not (path.is_file() and pub.is_file()):
            os.makedirs(key_dir(), mode=0o700, exist_ok=True)
            key = ed25519.Ed25519PrivateKey.generate()
            private = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption(),
            )
            public = key.public_key().public_bytes(
                serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
            )
            tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(private)
            pub.write_text(public.decode() + " ptnet-lab\n")
            tmp.replace(path)
    return path, pub.read_text().strip()


def known_hosts_line(port: int, host_key: str) -> str:
    """A known_hosts entry pinning `host_key` ("ssh-ed25519 AAAA...") for 127.0.0.1:port."""
    kind, blob = host_key.split()[:2]
    return f"[127.0.0.1]:{port} {kind} {blob}\n"


def wait_for_banner(
    port: int, deadline: float, alive: Callable[[], bool], what: str = "the guest"
) -> float:
    """Wait until 127.0.0.1:port sends an SSH banner; return when it did (monotonic time).

    slirp accepts connections before anything listens in the guest, so an accepted TCP connection
    proves nothing: only the "SSH-" banner does. `alive` is polled so a dead VM fails fast.
    """
    while True:
        if not alive():
            raise PtnetError(f"{what} stopped before SSH answered")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2.0) as s:
                s.settimeout(max(0.1, min(2.0, deadline - time.monotonic())))
                banner = b""
                while len(banner) < 4 and (chunk := s.recv(4 - len(banner))):
                    banner += chunk
                if banner == b"SSH-":
                    return time.monotonic()
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise PtnetError(f"{what} did not answer on SSH (127.0.0.1:{port}) in time")
        time.sleep(0.2)


@dataclass(frozen=True)
class Target:
    """A guest's SSH: 127.0.0.1:port on this host, or on host `jump` (an OpenSSH destination,
    a chain's remote host) when given, reached through that host's sshd."""

    port: int
    known_hosts: Path
    jump: str | None = None


JUMP_TIMEOUT = 60  # seconds for the jump host's SSH connection (TCG lab guests answer slowly)


def jump_command(target: Target) -> list[str]:
    """OpenSSH's client opening a TCP channel from the jump host to its 127.0.0.1:port, as
    `ssh -J` does; never prompting."""
    assert target.jump is not None
    return [
        "ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={JUMP_TIMEOUT}",
        "-W", f"127.0.0.1:{target.port}", "--", target.jump,
    ]  # fmt: skip


def _where(target: Target) -> str:
    at = f"127.0.0.1:{target.port}"
    return at if target.jump is None else f"{at} on {target.jump}"


def connect(target: Target) -> "paramiko.SSHClient":
    """An authenticated client; the host key must match the pinned one."""
    import paramiko

    key_path, _ = client_key()
    client = paramiko.SSHClient()
    client.load_host_keys(str(target.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    sock = None if target.jump is None else paramiko.ProxyCommand(shlex.join(jump_command(target)))
    try:
        client.connect(
            "127.0.0.1",
            port=target.port,
            username=USER,
            pkey=paramiko.Ed25519Key.from_private_key_file(str(key_path)),
            timeout=CONNECT_TIMEOUT,
            banner_timeout=BANNER_TIMEOUT,
            auth_timeout=AUTH_TIMEOUT,
            allow_agent=False,
            look_for_keys=False,
            sock=sock,
        )
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise PtnetError(
            f"the guest's SSH host key does not match the pinned one in {target.known_hosts}"
        ) from exc
    except paramiko.SSHException as exc:
        client.close()
        raise PtnetError(f"SSH to {_where(target)} failed: {exc}") from exc
    except OSError as exc:
        client.close()
        raise PtnetError(f"SSH to {_where(target)} failed: {exc}") from exc
    return client


@dataclass
class Result:
    exit_code: int
    stdout: bytes
    stderr: bytes


def run(
    target: Target,
    command: str,
    *,
    timeout: float = 60.0,
    stdout: BinaryIO | None = None,
    stderr: BinaryIO | None = None,
) -> Result:
    """Run `command` in the guest; stream its output into stdout/stderr when given.

    Both streams are drained as data arrives (a chatty command cannot fill a window and stall),
    and the whole call has a wall-clock deadline: past it the channel is closed and PtnetError
    is raised.
    """
    deadline = time.monotonic() + timeout
    client = connect(target)
    try:
        transport = client.get_transport()
        assert transport is not None
        chan = transport.open_session(timeout=CONNECT_TIMEOUT)
        chan.exec_command(command)
        out, err = bytearray(), bytearray()
        while True:
            drained = False
            while chan.recv_ready():
                data = chan.recv(65536)
                out += data
                _write(stdout, data)
                drained = True
            while chan.recv_stderr_ready():
                data = chan.recv_stderr(65536)
                err += data
                _write(stderr, data)
                drained = True
            if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                break
            if time.monotonic() > deadline:
                chan.close()
                raise PtnetError(f"guest command timed out after {timeout:g} s: {command}")
            if not drained:
                select.select([chan], [], [], min(0.2, max(0.0, deadline - time.monotonic())))
        return Result(chan.recv_exit_status(), bytes(out), bytes(err))
    finally:
        client.close()


def _write(sink: BinaryIO | None, data: bytes) -> None:
    if sink is not None and data:
        sink.write(data)
        sink.flush()


def openssh_argv(target: Target, command: list[str]) -> list[str]:
    """The system ssh client's command line for an interactive session (host key pinned)."""
    from ptnet import host

    key_path, _ = client_key()
    argv = [
        host.require("ssh", "openssh-client"),
        "-i", str(key_path),
        "-p", str(target.port),
        "-o", f"UserKnownHostsFile={target.known_hosts}",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "IdentitiesOnly=yes",
        "-o", "PasswordAuthentication=no",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "LogLevel=ERROR",
        f"{USER}@127.0.0.1",
    ]  # fmt: skip
    if target.jump is not None:
        argv[1:1] = ["-J", target.jump]
    if command:
        argv += ["--", *command]
    elif not sys.stdin.isatty():
        argv.insert(1, "-T")
    return argv
