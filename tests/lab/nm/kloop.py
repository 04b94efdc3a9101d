"""CSB mode and the sync kloop from Python: the CSB arrays, the requests, a kloop thread.

    with Port.open("k{1", flags=abi.NR_EXCLUSIVE) as p, Csb(2) as csb:
        csb.enable(p)
        with Kloop(p, sleep_us=100):
            ...  # drive the rings through csb.atok / csb.ktoa

Entries: tx rings first, then rx rings (one per bound ring). The guest side writes atok cur, then
head, and reads ktoa hwtail, then hwcur; on x86 plain ctypes stores and loads keep that order.
"""

import contextlib
import ctypes
import os
import struct
import threading
import time
from collections.abc import Iterator
from typing import Self

from nm import abi, counters
from nm import libc as nsys
from nm.port import Option, Port, Request, ctrl

ENTRY = ctypes.sizeof(abi.NmCsbAtok)  # 64
PAGE = 4096


class Csb:
    """The two arrays, each at the start of its own anonymous mapping (so 64-byte aligned)."""

    def __init__(self, nrings: int) -> None:
        self.nrings = nrings
        self.size = max(PAGE, (nrings * ENTRY + PAGE - 1) // PAGE * PAGE)
        self.atok_addr = nsys.anon_mmap(self.size)
        self.ktoa_addr = nsys.anon_mmap(self.size)
        self.atok = (abi.NmCsbAtok * nrings).from_address(self.atok_addr)
        self.ktoa = (abi.NmCsbKtoa * nrings).from_address(self.ktoa_addr)
        self.last_option: Option | None = None

    def option(self, atok: int | None = None, ktoa: int | None = None, **kw) -> Option:
        a = self.atok_addr if atok is None else atok
        k = self.ktoa_addr if ktoa is None else ktoa
        return Option(abi.NETMAP_REQ_OPT_CSB, struct.pack("<QQ", a, k), **kw)

    def enable(self, port: Port, **kw) -> Option:
        """NETMAP_REQ_CSB_ENABLE with these arrays (kw: atok=, ktoa= addresses to lie)."""
        opt = self.option(**kw)
        self.last_option = opt
        ctrl(port.fd, Request(abi.NETMAP_REQ_CSB_ENABLE, port.name, None, [opt]))
        return opt

    # -- the guest's view of one entry ------------------------------------------------------
    def write(self, k: int, head: int, cur: int | None = None) -> None:
        e = self.atok[k]
        e.cur = head if cur is None else cur
        e.head = head

    def read(self, k: int) -> tuple[int, int]:
        """(hwcur, hwtail) of entry k."""
        e = self.ktoa[k]
        hwtail = e.hwtail
        return e.hwcur, hwtail

    def close(self) -> None:
        for addr in (self.atok_addr, self.ktoa_addr):
            if addr:
                nsys.munmap(addr, self.size)
        self.atok_addr = self.ktoa_addr = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def eventfds_option(pairs: list[tuple[int, int]], *, size: int | None = None) -> Option:
    body = b"".join(struct.pack("<ii", io, irq) for io, irq in pairs)
    return Option(abi.NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS, body, size=size)


def mode_option(mode: int) -> Option:
    return Option(abi.NETMAP_REQ_OPT_SYNC_KLOOP_MODE, struct.pack("<I", mode))


def start_request(name: str, sleep_us: int = 0, options: list[Option] | None = None) -> Request:
    return Request(
        abi.NETMAP_REQ_SYNC_KLOOP_START,
        name,
        abi.NmreqSyncKloopStart(sleep_us=sleep_us),
        options or [],
    )


def stop(fd: int, name: str = "") -> None:
    """NETMAP_REQ_SYNC_KLOOP_STOP on fd (name: for a loop of another descriptor)."""
    ctrl(fd, Request(abi.NETMAP_REQ_SYNC_KLOOP_STOP, name))


def running() -> int:
    return counters.read("kloop_count") or 0


def wait_running(n: int = 1, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while running() < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{n} kloop(s) not running after {timeout} s")
        time.sleep(0.005)


class Kloop(threading.Thread):
    """SYNC_KLOOP_START on a port in a thread; `errno` is its outcome (0: returned 0).

    As a context manager: start, wait until the loop runs, and on exit STOP it and join.
    """

    def __init__(self, port: Port, sleep_us: int = 0, options: list[Option] | None = None):
        super().__init__(daemon=True)
        self.port = port
        self.request = start_request(port.name, sleep_us, options)
        self.errno: int | None = None
        self.ended_at = 0.0

    def run(self) -> None:
        self.errno = nsys.errno_of(ctrl, self.port.fd, self.request)
        self.ended_at = time.monotonic()

    def stop(self, timeout: float = 10.0) -> float:
        """STOP (it stays pending if the loop has not started yet) and join; returns the
        seconds STOP took to end the loop."""
        t0 = time.monotonic()
        if self.is_alive():
            stop(self.port.fd)
        self.join(timeout)
        assert not self.is_alive(), "the kloop did not return after STOP"
        return self.ended_at - t0

    def __enter__(self) -> Self:
        self.start()
        wait_running()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.is_alive():
            self.stop()


def eventfd_pair() -> tuple[int, int]:
    return os.eventfd(0, os.EFD_CLOEXEC), os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)


@contextlib.contextmanager
def eventfd_pairs(n: int) -> Iterator[list[tuple[int, int]]]:
    """n (ioeventfd, irqfd) pairs, closed afterwards."""
    pairs = [eventfd_pair() for _ in range(n)]
    try:
        yield pairs
    finally:
        for pair in pairs:
            for fd in pair:
                os.close(fd)


def kick(fd: int) -> None:
    os.eventfd_write(fd, 1)
