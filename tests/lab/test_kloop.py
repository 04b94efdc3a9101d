"""CSB mode and the sync kloop (kernel/csb.c, kernel/kloop.c): requests, errors, stopping.

The traffic, the hostile guest and the tools are in test_kloop_traffic.py. Here a Python thread
runs SYNC_KLOOP_START and the test plays the guest through the CSB.
"""

import errno
import os
import select
import signal
import struct
import time

import pytest
from nm import Option, Port, Request, abi, counters, ctrl, errno_of, ioctl, libc
from nm.kloop import (
    Csb,
    Kloop,
    eventfd_pair,
    eventfd_pairs,
    eventfds_option,
    kick,
    mode_option,
    running,
    start_request,
    stop,
    wait_running,
)
from nm.proc import Child

EXCL = abi.NR_EXCLUSIVE
DIRECT_TX, DIRECT_RX = 1, 2


def _excl(name: str, **kw) -> Port:
    return Port.open(name, flags=EXCL, **kw)


def _csb_errno(port: Port, opt: Option | None) -> int:
    req = Request(abi.NETMAP_REQ_CSB_ENABLE, port.name, None, [opt] if opt else [])
    return errno_of(ctrl, port.fd, req)


def _start_errno(port: Port, options=(), sleep_us: int = 0) -> int:
    return errno_of(ctrl, port.fd, start_request(port.name, sleep_us, list(options)))


# -- CSB_ENABLE -------------------------------------------------------------------------------


def test_csb_enable_fills_both_arrays_from_the_rings(pname):
    with _excl(f"{pname}{{1") as p, Csb(2) as csb:
        for k in range(2):  # garbage the kernel must overwrite
            csb.write(k, 77)
            csb.ktoa[k].hwcur = csb.ktoa[k].hwtail = 55
        opt = csb.enable(p)
        assert opt.status == 0
        n = p.tx.num_slots
        assert csb.read(0) == (0, n - 1)  # tx: hwcur 0, all but one slot free
        assert csb.read(1) == (0, 0)  # rx: nothing yet
        assert (csb.atok[0].head, csb.atok[0].cur) == (0, 0)
        assert (csb.atok[1].head, csb.atok[1].cur) == (0, 0)
        assert counters.read("csb_count") == 1
    assert counters.read("csb_count") == 0


def test_csb_enable_needs_an_exclusive_binding(pname):
    with Port.open(f"{pname}{{1") as p, Csb(2) as csb:
        assert _csb_errno(p, csb.option()) == errno.EINVAL


def test_csb_enable_needs_a_binding():
    fd = os.open("/dev/netmap", os.O_RDWR)
    try:
        with Csb(2) as csb:
            req = Request(abi.NETMAP_REQ_CSB_ENABLE, "", None, [csb.option()])
            assert errno_of(ctrl, fd, req) == errno.ENXIO
    finally:
        os.close(fd)


def test_csb_enable_needs_the_option(pname):
    with _excl(f"{pname}{{1") as p:
        assert _csb_errno(p, None) == errno.EINVAL


@pytest.mark.parametrize("which", ["atok", "ktoa"])
@pytest.mark.parametrize("offset", [8, 32, 63])
def test_csb_enable_misaligned_is_einval(pname, which, offset):
    with _excl(f"{pname}{{1") as p, Csb(2) as csb:
        base = csb.atok_addr if which == "atok" else csb.ktoa_addr
        opt = csb.option(**{which: base + offset})
        assert _csb_errno(p, opt) == errno.EINVAL
        assert opt.status == errno.EINVAL
        assert counters.read("csb_count") == 0


@pytest.mark.parametrize("which", ["atok", "ktoa"])
def test_csb_enable_unmapped_is_efault(pname, which):
    with _excl(f"{pname}{{1") as p, Csb(2) as csb:
        # The hole is made after the CSB's own mapping, which could otherwise reuse it.
        hole = libc.anon_mmap(8192)
        libc.munmap(hole, 8192)
        opt = csb.option(**{which: hole})
        assert _csb_errno(p, opt) == errno.EFAULT
        assert opt.status == errno.EFAULT
        # the second entry runs off the end of a mapping, into a hole
        page = libc.anon_mmap(8192)
        libc.munmap(page + 4096, 4096)
        try:
            opt = csb.option(**{which: page + 4096 - 64})
            assert _csb_errno(p, opt) == errno.EFAULT
        finally:
            libc.munmap(page, 4096)
        # not writable, or the kernel's own addresses
        ro = libc.anon_mmap(4096)
        try:
            libc.mprotect(ro, 4096, 1)  # PROT_READ
            assert _csb_errno(p, csb.option(**{which: ro})) == errno.EFAULT
        finally:
            libc.munmap(ro, 4096)
        assert _csb_errno(p, csb.option(**{which: 0xFFFF_FFFF_FFFF_F000})) == errno.EFAULT
        assert _csb_errno(p, csb.option(**{which: 0xFFFF_8000_0000_0000})) == errno.EFAULT
        assert counters.read("csb_count") == 0


def test_csb_inside_the_netmap_region(pname):
    """The kernel may refuse to pin its own region (EFAULT) or use it; either way, no harm."""
    with _excl(f"{pname}{{1") as p, Csb(2) as csb:
        opt = csb.option(atok=p.mem + p.memsize - 4096)
        assert _csb_errno(p, opt) in (0, errno.EFAULT)
        p.unmap()  # the region goes with the binding, the pin first


def test_csb_enable_bad_pointer_pairs(pname):
    with _excl(f"{pname}{{1") as p, Csb(2) as csb:
        assert _csb_errno(p, csb.option(atok=0)) == errno.EINVAL
        assert _csb_errno(p, csb.option(ktoa=0)) == errno.EINVAL
        assert _csb_errno(p, csb.option(ktoa=csb.atok_addr + 64)) == errno.EINVAL  # overlap
        assert _csb_errno(p, csb.option(ktoa=csb.atok_addr)) == errno.EINVAL
        # nro_size is ignored: the 16-byte body is read whole, and its ktoa is 0
        short = Option(abi.NETMAP_REQ_OPT_CSB, struct.pack("<QQ", csb.atok_addr, 0), size=32)
        assert _csb_errno(p, short) == errno.EINVAL
        assert short.status == errno.EINVAL


def test_csb_option_on_register_needs_an_exclusive_binding(pname):
    """REGISTER acts on a CSB option (test_ctrl_exact.py); other requests ignore it."""
    with Csb(2) as csb:
        opt = csb.option()
        req = Request(abi.NETMAP_REQ_REGISTER, f"{pname}{{1", abi.NmreqRegister(nr_mode=1), [opt])
        fd = os.open("/dev/netmap", os.O_RDWR)
        try:
            assert errno_of(ctrl, fd, req) == errno.EINVAL
            assert opt.status == errno.EINVAL
            opt = csb.option()
            body = abi.NmreqPortHdr()
            req = Request(abi.NETMAP_REQ_PORT_HDR_GET, f"{pname}{{1", body, [opt])
            assert errno_of(ctrl, fd, req) in (0, errno.ENODEV, errno.ENXIO)
            assert opt.status == errno.EOPNOTSUPP
        finally:
            os.close(fd)


def test_csb_mode_refuses_ioctl_syncs_and_poll_then_disable_restores_them(pname):
    with _excl(f"{pname}{{1") as m, Port.open(f"{pname}}}1") as s, Csb(2) as csb:
        csb.enable(m)
        assert errno_of(ioctl, m.fd, abi.NIOCTXSYNC) == errno.EBUSY
        assert errno_of(ioctl, m.fd, abi.NIOCRXSYNC) == errno.EBUSY
        assert m.poll(select.POLLIN | select.POLLOUT, 0) & select.POLLERR
        # leave CSB mode: both pointers 0
        off = csb.option(atok=0, ktoa=0)
        assert _csb_errno(m, off) == 0 and off.status == 0
        assert counters.read("csb_count") == 0
        m.txsync()
        m.rxsync()
        pkts = [[b"\x42" * 60]]
        m.tx.put(pkts)
        m.txsync()
        s.rxsync()
        assert s.rx.take() == pkts


def test_csb_enable_twice_moves_to_the_new_arrays(pname):
    with _excl(f"{pname}{{1") as p, Csb(2) as a, Csb(2) as b:
        a.enable(p)
        b.enable(p)
        assert counters.read("csb_count") == 1
        assert b.read(0) == (0, p.tx.num_slots - 1)


# -- SYNC_KLOOP_START errors ------------------------------------------------------------------


def test_start_needs_a_binding_and_csb_mode(pname):
    fd = os.open("/dev/netmap", os.O_RDWR)
    try:
        assert errno_of(ctrl, fd, start_request("")) == errno.ENXIO
    finally:
        os.close(fd)
    with _excl(f"{pname}{{1") as p:
        assert _start_errno(p) == errno.EINVAL


def test_stop_without_a_loop_and_without_a_csb_is_enoent(pname):
    with _excl(f"{pname}{{1") as p:
        assert errno_of(stop, p.fd) == errno.ENOENT
        assert errno_of(stop, p.fd, "nosuchport{7") == errno.ENOENT


def test_a_stop_before_the_loop_starts_ends_the_next_start_at_once(pname):
    """A VMM stops a loop its thread may not have entered yet with one STOP: the STOP stays
    pending on the CSB, the next START returns 0 at once, and the one after it runs."""
    with _excl(f"{pname}{{1") as p, Csb(2) as csb:
        csb.enable(p)
        stop(p.fd)
        t0 = time.monotonic()
        assert _start_errno(p) == 0
        assert time.monotonic() - t0 < 2 and running() == 0
        with Kloop(p) as kl:  # the pending STOP was used up: this loop runs until stopped
            time.sleep(0.3)
            assert kl.is_alive() and running() == 1
        assert kl.errno == 0 and running() == 0


def test_a_pending_stop_goes_with_its_csb(pname):
    with _excl(f"{pname}{{1") as p, Csb(2) as csb:
        csb.enable(p)
        stop(p.fd)
        csb.enable(p)  # a new CSB: the STOP made for the old one is gone
        with Kloop(p) as kl:
            time.sleep(0.3)
            assert kl.is_alive() and running() == 1
        assert kl.errno == 0


@pytest.mark.parametrize("entries", [0, 1, 3, 64])
def test_eventfds_count_must_match_the_rings(pname, entries):
    with eventfd_pairs(max(entries, 1)) as fds, _excl(f"{pname}{{1") as p, Csb(2) as csb:
        csb.enable(p)
        opt = eventfds_option(fds[:entries])
        assert _start_errno(p, [opt]) == errno.EINVAL
        assert opt.status == errno.EINVAL


def test_eventfds_size_not_a_whole_entry_is_einval(pname):
    with eventfd_pairs(2) as fds, _excl(f"{pname}{{1") as p, Csb(2) as csb:
        csb.enable(p)
        opt = eventfds_option(fds, size=24 + 16 - 4)
        assert _start_errno(p, [opt]) == errno.EINVAL
        assert opt.status == errno.EINVAL


def test_eventfds_must_be_eventfds(pname):
    r, w = os.pipe()
    io, irq = eventfd_pair()
    try:
        with _excl(f"{pname}{{1") as p, Csb(2) as csb:
            csb.enable(p)
            for bad in [(r, irq), (io, w), (io, 9999)]:
                opt = eventfds_option([bad, (io, irq)])
                e = _start_errno(p, [opt])
                assert e in (errno.EINVAL, errno.EBADF), bad
                assert opt.status == e
            same = eventfds_option([(io, io), (-1, -1)])  # kicking itself
            assert _start_errno(p, [same]) == errno.EINVAL
    finally:
        for fd in (r, w, io, irq):
            os.close(fd)


@pytest.mark.parametrize("mode", [DIRECT_TX, DIRECT_RX, DIRECT_TX | DIRECT_RX])
def test_direct_modes_need_every_eventfd(pname, mode):
    with eventfd_pairs(2) as [(io, irq), (io2, irq2)], _excl(f"{pname}{{1") as p, Csb(2) as csb:
        csb.enable(p)
        m = mode_option(mode)
        assert _start_errno(p, [m]) == errno.EINVAL
        assert m.status == errno.EINVAL
        for pairs in ([(io, irq), (-1, irq2)], [(io, -1), (io2, irq2)]):
            m = mode_option(mode)
            assert _start_errno(p, [eventfds_option(pairs), m]) == errno.EINVAL
            assert m.status == errno.EINVAL


def test_unknown_mode_bits_are_einval(pname):
    with _excl(f"{pname}{{1") as p, Csb(2) as csb:
        csb.enable(p)
        m = mode_option(4)
        assert _start_errno(p, [m]) == errno.EINVAL
        assert m.status == errno.EINVAL
        # nro_size is ignored: the 8-byte body is read whole
        short = Option(abi.NETMAP_REQ_OPT_SYNC_KLOOP_MODE, struct.pack("<II", 4, 0), size=25)
        assert _start_errno(p, [short]) == errno.EINVAL
        assert short.status == errno.EINVAL


def test_second_start_and_csb_changes_are_ebusy_while_running(pname):
    with _excl(f"{pname}{{1") as p, Csb(2) as csb, Csb(2) as other:
        csb.enable(p)
        with Kloop(p, sleep_us=1000) as kl:
            assert _start_errno(p) == errno.EBUSY
            assert _csb_errno(p, other.option()) == errno.EBUSY
            assert errno_of(ioctl, p.fd, abi.NIOCTXSYNC) == errno.EBUSY
        assert kl.errno == 0


def test_options_report_status_0_when_consumed(pname):
    with eventfd_pairs(2) as fds, _excl(f"{pname}{{1") as p, Csb(2) as csb:
        assert csb.enable(p).status == 0
        efds = eventfds_option(fds)
        m = mode_option(DIRECT_TX)
        efds.hdr.nro_status = m.hdr.nro_status = 12345
        with Kloop(p, options=[efds, m]) as kl:
            pass
        assert kl.errno == 0
        assert (efds.status, m.status) == (0, 0)


# -- ending the loop --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sleep-1s", "eventfd"])
def test_stop_from_another_thread_is_prompt(pname, mode):
    with (
        eventfd_pairs(2 if mode == "eventfd" else 0) as fds,
        _excl(f"{pname}{{1") as p,
        Csb(2) as csb,
    ):
        csb.enable(p)
        opts = [eventfds_option(fds)] if fds else []
        kl = Kloop(p, sleep_us=1_000_000, options=opts)
        kl.start()
        wait_running()
        time.sleep(0.3)  # let it settle into its longest sleep
        took = kl.stop()
        assert kl.errno == 0
        assert took < 1.0, f"STOP took {took:.3f} s"
        assert running() == 0
        # the descriptor works again: a new loop starts and stops
        with Kloop(p, sleep_us=100) as again:
            pass
        assert again.errno == 0


def test_stop_from_another_descriptor_by_name(pname):
    name = f"{pname}{{1"
    with _excl(name) as p, Csb(2) as csb:
        csb.enable(p)
        kl = Kloop(p, sleep_us=1_000_000)
        kl.start()
        wait_running()
        fd = os.open("/dev/netmap", os.O_RDWR)
        try:
            t0 = time.monotonic()
            stop(fd, name)
            kl.join(5)
            assert not kl.is_alive() and kl.errno == 0
            assert kl.ended_at - t0 < 1.0
        finally:
            os.close(fd)


def test_a_signal_ends_the_loop_with_eintr(pname):
    def guest(ctl, name):
        signal.signal(signal.SIGUSR1, lambda *a: None)
        with _excl(name) as p, Csb(2) as csb:
            csb.enable(p)
            ctl.send()
            return errno_of(ctrl, p.fd, start_request(name, 1_000_000))

    child = Child(guest, f"{pname}{{1")
    child.ctl.recv()
    wait_running()
    time.sleep(0.1)
    os.kill(child.pid, signal.SIGUSR1)
    assert child.join(10) == errno.EINTR


def test_close_by_the_loops_process_ends_it(pname):
    p = _excl(f"{pname}{{1")
    csb = Csb(2)
    try:
        csb.enable(p)
        kl = Kloop(p, sleep_us=1_000_000)
        kl.start()
        wait_running()
        p.unmap()
        os.close(p.fd)  # the ioctl still holds the file; flush() ends the loop
        kl.join(5)
        assert not kl.is_alive() and kl.errno == 0
        p.fd = -1
    finally:
        p.close()
        csb.close()


def test_kill9_mid_loop_releases_everything(pname):
    name = f"{pname}{{1"

    def vmm(ctl):
        io, irq = eventfd_pair()
        with _excl(name) as p, Csb(2) as csb:
            csb.enable(p)
            ctl.send()
            ctrl(p.fd, start_request(name, 0, [eventfds_option([(io, irq), (io, irq)])]))
        return "returned"

    with Port.open(f"{pname}}}1") as peer:
        child = Child(vmm)
        child.ctl.recv()
        wait_running()
        peer.tx.put([[b"x" * 60]] * 10)  # traffic in flight at the kill
        peer.txsync()
        child.kill(signal.SIGKILL)
    idle = dict.fromkeys(counters.LEAK_COUNTERS, 0)
    now = counters.wait_idle(idle)
    assert now == idle, now
    for name_ in ("kloop_count", "csb_count"):
        assert counters.read(name_) == 0
    with _excl(name):  # nothing holds the rings any more
        pass


# -- the exchange itself ----------------------------------------------------------------------


def _wait_for(cond, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


@pytest.mark.parametrize("mode", ["sleep", "eventfd", "direct-tx", "direct-rx"])
def test_tx_and_rx_through_the_csb(pname, mode):
    """A few frames each way, the guest side played here; irqfds fire only when asked."""
    with (
        eventfd_pairs(0 if mode == "sleep" else 2) as fds,
        _excl(f"{pname}{{1") as g,
        Port.open(f"{pname}}}1") as peer,
        Csb(2) as csb,
    ):
        opts = [eventfds_option(fds)] if fds else []
        if mode.startswith("direct"):
            opts.append(mode_option(DIRECT_TX if mode == "direct-tx" else DIRECT_RX))
        csb.enable(g)
        tx, rx = g.tx, g.rx
        n = tx.num_slots
        with Kloop(g, sleep_us=200, options=opts):
            # guest tx: three frames, then kick if asked
            frames = [bytes([i]) * (60 + i) for i in range(3)]
            for i, f in enumerate(frames):
                idx = tx.get(i)[0]
                tx.write_buf(idx, f)
                tx.set_len_flags(i, len(f), 0)
            csb.write(0, 3)
            if fds:  # a guest kicks when kern_need_kick; always kicking is allowed too
                kick(fds[0][0])
            _wait_for(lambda: csb.read(0)[0] == 3)  # hwcur: taken
            got = []

            def arrived():
                peer.rxsync()
                got.extend(peer.rx.take())
                return len(got) == 3

            _wait_for(arrived)
            assert [p[0] for p in got] == frames
            peer.rxsync()  # the release reaches the pipe, and our tx completes
            _wait_for(lambda: csb.read(0)[1] == (3 + n - 1) % n)

            # guest rx: ask for a kick, the peer sends two frames
            if fds:
                csb.atok[1].appl_need_kick = 1
            peer.tx.put([[b"\x11" * 70], [b"\x22" * 80]])
            peer.txsync()
            _wait_for(lambda: csb.read(1)[1] == 2)
            if fds:
                ready, _, _ = select.select([fds[1][1]], [], [], 5)
                assert ready, "no irqfd after asking for it"
                os.eventfd_read(fds[1][1])
                csb.atok[1].appl_need_kick = 0
            assert [rx.read_buf(rx.get(i)[0], rx.get(i)[1]) for i in range(2)] == [
                b"\x11" * 70,
                b"\x22" * 80,
            ]
            csb.write(1, 2)  # release them
            if fds:
                kick(fds[1][0])
            _wait_for(lambda: csb.read(1)[0] == 2)  # hwcur follows
        assert counters.read("kloop_errors") is not None


def test_no_irqfd_without_appl_need_kick(pname):
    with (
        eventfd_pairs(2) as fds,
        _excl(f"{pname}{{1") as g,
        Port.open(f"{pname}}}1") as peer,
        Csb(2) as csb,
    ):
        csb.enable(g)
        with Kloop(g, options=[eventfds_option(fds)]):
            peer.tx.put([[b"\x33" * 60]])
            peer.txsync()
            _wait_for(lambda: csb.read(1)[1] == 1)
            time.sleep(0.05)
            assert errno_of(os.eventfd_read, fds[1][1]) == errno.EAGAIN


def test_kern_need_kick_while_the_loop_sleeps(pname):
    with eventfd_pairs(2) as fds, _excl(f"{pname}{{1") as g, Csb(2) as csb:
        csb.enable(g)
        with Kloop(g, options=[eventfds_option(fds)]):
            _wait_for(lambda: csb.ktoa[0].kern_need_kick == 1)
            assert csb.ktoa[1].kern_need_kick == 1
        assert (csb.ktoa[0].kern_need_kick, csb.ktoa[1].kern_need_kick) == (0, 0)


def test_bad_pointers_are_counted_and_the_ring_recovers(pname):
    with _excl(f"{pname}{{1") as g, Port.open(f"{pname}}}1") as peer, Csb(2) as csb:
        csb.enable(g)
        tx = g.tx
        n = tx.num_slots
        errors0 = counters.read("kloop_errors")
        with Kloop(g, sleep_us=100):
            for head, cur in [(n + 5, n + 5), (0xFFFFFFFF, 0), (2, 1), (n, 0), (0, n)]:
                before = counters.read("kloop_errors")
                csb.write(0, head, cur)
                _wait_for(lambda b=before: counters.read("kloop_errors") > b)
                assert csb.read(0) == (0, n - 1), "ktoa must stay consistent"
            # a bad buffer index in a slot handed over
            idx = tx.get(0)[0]
            tx.set(0, 0xFFFFFF, 60, 0)
            before = counters.read("kloop_errors")
            csb.write(0, 1)
            _wait_for(lambda: counters.read("kloop_errors") > before)
            assert csb.read(0) == (0, n - 1)
            # Fix the slot while no valid head covers it (the kloop keeps looking at what it was
            # handed: a slot half rewritten would go out as it stands).
            before = counters.read("kloop_errors")
            csb.write(0, n + 7)
            _wait_for(lambda: counters.read("kloop_errors") > before)
            # sane values again: traffic flows
            tx.set(0, idx, 60, 0)
            tx.write_buf(idx, b"\x5a" * 60)
            csb.write(0, 1)
            got = []

            def arrived():
                peer.rxsync()
                got.extend(peer.rx.take())
                return got

            _wait_for(arrived)
            assert got == [[b"\x5a" * 60]]
        assert counters.read("kloop_errors") >= errors0 + 7


def test_csb_unmapped_under_a_running_loop(pname):
    """The kernel keeps its own pin of the arrays: munmap() by the guest harms nobody else."""
    with _excl(f"{pname}{{1") as g, Port.open(f"{pname}}}1") as peer:
        csb = Csb(2)
        csb.enable(g)
        with Kloop(g, sleep_us=100):
            csb.close()  # both arrays gone from the process
            peer.tx.put([[b"\x44" * 60]] * 5)
            peer.txsync()
            time.sleep(0.05)
            fresh = libc.anon_mmap(8192)  # may reuse the addresses: the kernel must not care
            libc.munmap(fresh, 8192)
        assert counters.read("csb_count") == 1  # until the descriptor unbinds
    assert counters.read("csb_count") == 0
