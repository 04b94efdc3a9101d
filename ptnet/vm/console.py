"""A VM's serial console on the terminal: raw mode in, the guest's bytes out, Ctrl-] detaches."""

import os
import select
import socket
import sys
import termios
import time
import tty
from pathlib import Path

from ptnet import host
from ptnet.backend import base
from ptnet.errors import PtnetError


def attach(record: base.Record) -> None:
    """Attach the terminal to the VM's serial console; Ctrl-] detaches."""
    path = Path(record.run_dir) / "console.sock"
    try:
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(str(path))
    except OSError as exc:
        raise PtnetError(f"cannot reach the console of {record.name} ({path}): {exc}") from exc
    stdin = sys.stdin.fileno()
    interactive = os.isatty(stdin)
    saved = termios.tcgetattr(stdin) if interactive else None
    if interactive:
        host.log(f"console of {record.name}; detach with Ctrl-]")
        tty.setraw(stdin)
    idle_after_eof: float | None = None
    try:
        while True:
            fds = [sock] if idle_after_eof is not None else [sock, stdin]
            ready, _, _ = select.select(fds, [], [], 0.5)
            if sock in ready:
                data = sock.recv(65536)
                if not data:
                    break
                os.write(sys.stdout.fileno(), data)
                if idle_after_eof is not None:
                    idle_after_eof = time.monotonic()
            if stdin in ready:
                data = os.read(stdin, 4096)
                if interactive and b"\x1d" in data:
                    break
                if not data:
                    idle_after_eof = time.monotonic()
                else:
                    sock.sendall(data)
            if idle_after_eof is not None and time.monotonic() - idle_after_eof > 1.0:
                break  # input ended and the guest has been quiet for a second
    finally:
        sock.close()
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
