"""Who wakes whom on a pipe: poll(), select() and epoll sleep until the peer acts, never miss its
wake-up, and never spin.

poll() and select() skip registering on the rings' wait queues when the port is ready at once
(they will not sleep); epoll registers only at EPOLL_CTL_ADD and counts on that registration
for good, so it is always made, even when the port is ready then. The cases where the port was
ready at the first look, and sleeps later, are the ones these tests build.
"""

import resource
import select
import time
from collections.abc import Callable

import pytest
from nm import Port
from nm.proc import Child

FRAME = b"wake up".ljust(60, b"!")
WAIT_MS = 10000
PEER_DELAY = 0.3  # the peer acts this long after the waiter said it is about to wait


def _cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _send(port: Port, n: int = 1) -> None:
    assert port.tx.put([[FRAME]] * n) == n
    port.txsync()


# -- the waiters: each returns (events, seconds waited, CPU seconds spent waiting) -------------


def _wait_poll(p: Port, events: int, timeout_ms: int) -> tuple[int, float, float]:
    t0, c0 = time.monotonic(), _cpu_seconds()
    ev = p.poll(events, timeout_ms)
    return ev, time.monotonic() - t0, _cpu_seconds() - c0


def _wait_select(p: Port, events: int, timeout_ms: int) -> tuple[int, float, float]:
    t0, c0 = time.monotonic(), _cpu_seconds()
    want_in = [p.fd] if events & select.POLLIN else []
    want_out = [p.fd] if events & select.POLLOUT else []
    r, w, _ = select.select(want_in, want_out, [], timeout_ms / 1000)
    ev = (select.POLLIN if r else 0) | (select.POLLOUT if w else 0)
    return ev, time.monotonic() - t0, _cpu_seconds() - c0


def _epoll_waiter(edge: bool) -> Callable[[Port, int, int], tuple[int, float, float]]:
    """An epoll set made once per port, at the first call, while the port may be ready."""
    sets: dict[int, select.epoll] = {}

    def wait(p: Port, events: int, timeout_ms: int) -> tuple[int, float, float]:
        if p.fd not in sets:
            sets[p.fd] = select.epoll()
            sets[p.fd].register(p.fd, events | (select.EPOLLET if edge else 0))
        t0, c0 = time.monotonic(), _cpu_seconds()
        got = sets[p.fd].poll(timeout_ms / 1000)
        return (got[0][1] if got else 0), time.monotonic() - t0, _cpu_seconds() - c0

    return wait


def _waiter(kind: str) -> Callable[[Port, int, int], tuple[int, float, float]]:
    if kind == "poll":
        return _wait_poll
    if kind == "select":
        return _wait_select
    return _epoll_waiter(edge=kind == "epoll-edge")


KINDS = ["poll", "select", "epoll-level", "epoll-edge"]


# -- the receiver ------------------------------------------------------------------------------


def _receiver_ready_then_sleeps(ctl, name: str, kind: str):
    """Frames wait on the ring before the first look; drained, the next wait must sleep until
    the peer sends again, and wake then."""
    wait = _waiter(kind)
    with Port.open(name) as p:
        ctl.recv()  # the peer sent the first frames
        first = wait(p, select.POLLIN, WAIT_MS)
        got = p.rx.take()
        p.rxsync()  # release them: nothing left to read
        ctl.send(b"R")
        second = wait(p, select.POLLIN, WAIT_MS)
        got += p.rx.take()
        p.rxsync()
        return first, second, len(got)


@pytest.mark.lab(smp=2)
@pytest.mark.parametrize("kind", KINDS)
def test_a_receiver_ready_at_first_sleeps_and_wakes_on_the_next_frame(pname, kind):
    with Port.open(f"{pname}{{1") as tx:
        child = Child(_receiver_ready_then_sleeps, f"{pname}}}1", kind)
        _send(tx, 3)
        child.ctl.send(b"G")
        assert child.ctl.recv() == b"R"
        time.sleep(PEER_DELAY)
        _send(tx)
        first, second, n = child.join()
    assert first[0] & select.POLLIN, f"frames queued, but the first {kind} saw none"
    assert first[1] < 5, f"the first {kind} waited {first[1]:.1f} s with frames queued"
    ev, waited, cpu = second
    assert ev & select.POLLIN, f"{kind} not woken by the peer's frame ({waited:.1f} s)"
    assert not ev & (select.POLLERR | select.POLLNVAL)
    assert waited >= PEER_DELAY * 0.7, f"{kind} returned {waited:.2f} s in, before the frame"
    assert cpu < waited / 2, f"{kind} spent {cpu:.2f} s of CPU in {waited:.2f} s of waiting"
    assert n == 4


def _idle_receiver(ctl, name: str, kind: str, timeout_ms: int):
    wait = _waiter(kind)
    with Port.open(name) as p:
        return wait(p, select.POLLIN, timeout_ms)


@pytest.mark.parametrize("kind", KINDS)
def test_a_receiver_with_nothing_to_read_sleeps_until_its_timeout(pname, kind):
    with Port.open(f"{pname}{{1"):  # the peer: bound, sends nothing; its tx ring has room
        ev, waited, cpu = Child(_idle_receiver, f"{pname}}}1", kind, 1000).join()
    assert ev == 0, f"{kind} reported {ev:#x} with nothing sent"
    assert waited >= 0.9, f"{kind} returned after {waited:.2f} s of a 1 s timeout"
    assert cpu < 0.3, f"{kind} spent {cpu:.2f} s of CPU waiting 1 s for nothing"


# -- the sender --------------------------------------------------------------------------------


def _drain_later(ctl, name: str):
    with Port.open(name) as p:
        ctl.send(b"R")
        ctl.recv()
        time.sleep(PEER_DELAY)
        p.rxsync()
        n = len(p.rx.take())
        p.rxsync()  # hand the slots back
        return n


@pytest.mark.lab(smp=2)
@pytest.mark.parametrize("kind", KINDS)
def test_a_sender_writable_at_first_sleeps_on_a_full_ring_and_wakes_when_slots_free(pname, kind):
    wait = _waiter(kind)
    with Port.open(f"{pname}{{1", tx_slots=64, rx_slots=64) as tx:
        child = Child(_drain_later, f"{pname}}}1")
        assert child.ctl.recv() == b"R"
        first = wait(tx, select.POLLOUT, WAIT_MS)  # room in the ring: ready at once
        placed = 0
        while tx.tx.space():
            placed += tx.tx.put([[FRAME]] * tx.tx.space())
            tx.txsync()
        child.ctl.send(b"G")
        ev, waited, cpu = wait(tx, select.POLLOUT, WAIT_MS)
        drained = child.join()
    assert first[0] & select.POLLOUT, f"an empty tx ring, but the first {kind} saw no room"
    assert ev & select.POLLOUT, f"{kind} not woken when the peer freed slots ({waited:.1f} s)"
    assert waited >= PEER_DELAY * 0.7, f"{kind} returned {waited:.2f} s in, on a full ring"
    assert cpu < waited / 2, f"{kind} spent {cpu:.2f} s of CPU in {waited:.2f} s of waiting"
    assert drained == placed


def test_select_for_reading_only_sleeps_while_the_tx_ring_has_room(pname):
    """Room to write is no reason to wake a select() that asked only to read."""
    with Port.open(f"{pname}{{1") as m, Port.open(f"{pname}}}1"):
        ev, waited, _ = _wait_select(m, select.POLLIN, 300)
    assert ev == 0
    assert waited >= 0.25


# -- the spin before sleeping (poll_spin_us) ---------------------------------------------------

SPIN = "/sys/module/netmap/parameters/poll_spin_us"


@pytest.fixture
def spin_us():
    """Set poll_spin_us for one test; the default (20) is back afterwards."""

    def put(us: int) -> None:
        with open(SPIN, "w") as f:
            f.write(str(us))

    yield put
    put(20)


def test_poll_spin_us_defaults_to_20_and_refuses_more_than_1000(spin_us):
    with open(SPIN) as f:
        assert f.read() == "20\n"
    spin_us(1000)
    spin_us(0)
    with pytest.raises(OSError) as err:
        spin_us(1001)
    assert err.value.errno == 22  # EINVAL, and the value stays
    with open(SPIN) as f:
        assert f.read() == "0\n"


def _idle_polls(p: Port, n: int, timeout_ms: int) -> tuple[float, float]:
    """n polls for reading on a ring with nothing to read: (seconds, CPU seconds)."""
    t0, c0 = time.monotonic(), _cpu_seconds()
    for _ in range(n):
        assert p.poll(select.POLLIN, timeout_ms) == 0
    return time.monotonic() - t0, _cpu_seconds() - c0


def test_a_poll_that_finds_nothing_spins_up_to_poll_spin_us_then_sleeps(pname, spin_us):
    """200 polls of 2 ms on an idle ring: at the longest spin (1 ms) each spends about half of
    its wait syncing; with none, they sleep throughout. A zero timeout never spins."""
    with Port.open(f"{pname}{{1"), Port.open(f"{pname}}}1") as rx:
        spin_us(1000)
        spun = _idle_polls(rx, 200, 2)
        at_once = _idle_polls(rx, 200, 0)
        spin_us(0)
        slept = _idle_polls(rx, 200, 2)
    assert spun[1] >= 0.1, f"200 polls spent {spun[1]:.3f} s of CPU with a 1 ms spin each"
    assert slept[1] < spun[1] / 3, f"no spin: {slept[1]:.3f} s of CPU, spin: {spun[1]:.3f} s"
    assert at_once[0] < 0.15, f"200 polls with a zero timeout took {at_once[0]:.3f} s"
