"""The kernel log, read from /dev/kmsg: what appeared since a given moment, and what is bad."""

import contextlib
import errno
import os
import re

# Lines that mean the kernel itself went wrong.
BAD = re.compile(
    r"BUG:|WARNING:|Oops|KASAN|UBSAN|refcount_t|general protection fault|kernel BUG|"
    r"Call Trace:|list_(add|del) corruption|slab.*corrupt|double free|use-after-free"
)


class Kmsg:
    """A reader positioned at the end of the log; new() returns the records since then."""

    def __init__(self) -> None:
        self.fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(self.fd, 0, os.SEEK_END)

    def new(self) -> list[str]:
        out = []
        while True:
            try:
                rec = os.read(self.fd, 8192)
            except OSError as e:
                if e.errno == errno.EAGAIN:
                    break
                if e.errno == errno.EPIPE:  # overwritten records; go on with the next
                    continue
                raise
            if not rec:
                break
            text = rec.decode(errors="replace")
            _, _, msg = text.partition(";")
            out.append(msg.split("\n", 1)[0])
        return out

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def bad_lines(lines: list[str]) -> list[str]:
    return [ln for ln in lines if BAD.search(ln)]


def all_lines() -> list[str]:
    """The whole log buffer."""
    fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    k = Kmsg.__new__(Kmsg)
    k.fd = fd
    try:
        return k.new()
    finally:
        k.close()
