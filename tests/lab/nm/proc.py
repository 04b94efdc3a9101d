"""Run a function in a forked child and get its result (or its exception text) back."""

import contextlib
import os
import pickle
import select
import signal
import time
import traceback
from collections.abc import Callable
from typing import Any


class ChildError(AssertionError):
    """The child raised; the message carries its traceback."""


class Child:
    """fork() now and run fn(ctl, *args) in the child.

    `ctl` is a Channel the child and the parent use to hand each other small messages
    (ready/go), besides the result that fn returns.
    """

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        res_r, res_w = os.pipe()
        p2c_r, p2c_w = os.pipe()
        c2p_r, c2p_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # child
            os.close(res_r)
            os.close(p2c_w)
            os.close(c2p_r)
            code = 0
            try:
                out: tuple[str, Any] = ("ok", fn(Channel(p2c_r, c2p_w), *args))
            except BaseException:
                out = ("err", traceback.format_exc())
                code = 1
            try:
                data = pickle.dumps(out)
                with os.fdopen(res_w, "wb") as f:
                    f.write(data)
            finally:
                os._exit(code)
        os.close(res_w)
        os.close(p2c_r)
        os.close(c2p_w)
        self._res = res_r
        self.ctl = Channel(c2p_r, p2c_w)
        self.status: int | None = None

    def join(self, timeout: float = 30.0) -> Any:
        """Wait for the result; raise ChildError if the child raised or died."""
        deadline = time.monotonic() + timeout
        chunks = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise ChildError(f"child {self.pid} timed out after {timeout} s")
            r, _, _ = select.select([self._res], [], [], left)
            if r:
                chunk = os.read(self._res, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
        os.close(self._res)
        self._res = -1
        self.wait()
        if not chunks:
            raise ChildError(f"child {self.pid} died with status {self.status}")
        kind, value = pickle.loads(b"".join(chunks))
        if kind == "err":
            raise ChildError(f"in the child process:\n{value}")
        return value

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.status is None:
            os.kill(self.pid, sig)
            self.wait()

    def wait(self) -> int:
        if self.status is None:
            _, self.status = os.waitpid(self.pid, 0)
            for fd in (self._res, self.ctl.rfd, self.ctl.wfd):
                if fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._res = self.ctl.rfd = self.ctl.wfd = -1
        return self.status


class Channel:
    """One-byte-token messages between parent and child."""

    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd = rfd
        self.wfd = wfd

    def send(self, token: bytes = b"!") -> None:
        os.write(self.wfd, token)

    def recv(self, timeout: float = 30.0) -> bytes:
        r, _, _ = select.select([self.rfd], [], [], timeout)
        if not r:
            raise TimeoutError("no message from the other process")
        data = os.read(self.rfd, 1)
        if not data:
            raise EOFError("the other process closed the channel")
        return data
