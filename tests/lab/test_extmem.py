"""The EXTMEM option of NETMAP_REQ_REGISTER: user memory as a port's memory region.

abi-corrections.md §6: defaults, pinning, reuse of a region for the same pages, the layout
(pools from the first page, in the order if, ring, buffer), the ports that take the region,
and the errors. The tests read rings and buffers through the user's own pointer, as netmap
applications do, and some also through a mapping of /dev/netmap.
"""

import ctypes
import errno
import os
import select
import struct
import time

import pytest
from nm import Option, Port, Request, abi, counters, ctrl, dev_open, errno_of, libc, pools_info
from nm.netdev import ETH_P_TEST, RawSocket, is_test_frame, tframe, veth_pair
from nm.packets import payload
from nm.port import transfer

PAGE = 4096

# A small geometry whose objects never cross a page: if 2x1024, ring 8x4096, buf 1024x2048.
SMALL = {"if_": (2, 1024), "ring": (8, 4096), "buf": (1024, 2048)}
SMALL_SIZE = PAGE + 8 * 4096 + 1024 * 2048


def extmem(
    addr: int,
    memsize: int,
    *,
    if_: tuple[int, int] = (0, 0),
    ring: tuple[int, int] = (0, 0),
    buf: tuple[int, int] = (0, 0),
) -> Option:
    """An EXTMEM option over [addr, addr + memsize) asking for (objtotal, objsize) pools."""
    e = abi.NmreqOptExtmem(nro_usrptr=addr)
    i = e.nro_info
    i.nr_memsize = memsize
    i.nr_if_pool_objtotal, i.nr_if_pool_objsize = if_
    i.nr_ring_pool_objtotal, i.nr_ring_pool_objsize = ring
    i.nr_buf_pool_objtotal, i.nr_buf_pool_objsize = buf
    return Option.of(e, abi.NETMAP_REQ_OPT_EXTMEM)


def ext_body(opt: Option) -> abi.NmreqOptExtmem:
    body = opt.body(abi.NmreqOptExtmem)
    assert isinstance(body, abi.NmreqOptExtmem)
    return body


class UserMem:
    """Private anonymous memory for an EXTMEM option, unmapped on exit."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.addr = libc.anon_mmap(size)

    def free(self) -> None:
        if self.addr:
            libc.munmap(self.addr, self.size)
            self.addr = 0

    def __enter__(self) -> "UserMem":
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()


class ExtPort(Port):
    """A port whose region is user memory, read through the user's pointer (no mmap)."""

    def attach(self, base: int) -> None:
        """Use the region at `base` (the start of the first page of the EXTMEM memory)."""
        self.mem = base
        arr = (ctypes.c_ubyte * self.memsize).from_address(base)
        self.mv = memoryview(arr).cast("B")
        self.nifp = abi.NetmapIf.from_address(base + self.offset)
        ntx, nrx = self.nifp.ni_tx_rings, self.nifp.ni_rx_rings
        nhtx, nhrx = self.nifp.ni_host_tx_rings, self.nifp.ni_host_rx_rings
        self.tx_rings = [self._ring(i) for i in range(ntx)]
        self.host_tx_rings = [self._ring(ntx + i) for i in range(nhtx)]
        self.rx_rings = [self._ring(ntx + nhtx + i) for i in range(nrx)]
        self.host_rx_rings = [self._ring(ntx + nhtx + nrx + i) for i in range(nhrx)]

    def unmap(self) -> None:
        """Forget the user memory; it is the user's to unmap."""
        if self.mem:
            self.tx_rings = self.rx_rings = self.host_tx_rings = self.host_rx_rings = []
            self.mv.release()
            self.mem = 0


def open_ext(name: str, mem: UserMem, opt: Option, **reg: int) -> ExtPort:
    port = ExtPort.open(name, options=[opt], map=False, **reg)
    port.attach(mem.addr & ~(PAGE - 1))
    return port


def register_errno(name: str, options: list[Option], **reg: int) -> int:
    return errno_of(lambda: Port.open(name, options=options, map=False, **reg).close())


def pinned() -> int:
    value = counters.read("extmem_pages")
    assert value is not None
    return value


def frames(n: int, base: int = 0) -> list[list[bytes]]:
    return [[payload(base + i, 60 + 7 * i)] for i in range(n)]


# -- what REGISTER reports -----------------------------------------------------------------


def test_section6_example(pname):
    """vale:0 with 2x1024, 64x512, 4096x2048 and 16 slots (the figures upstream reports)."""
    size = 8425472
    name = f"vale{pname}:0"
    with UserMem(size) as um:
        opt = extmem(um.addr, size, if_=(2, 1024), ring=(64, 512), buf=(4096, 2048))
        with open_ext(name, um, opt, tx_slots=16, rx_slots=16) as p:
            assert p.reg.nr_mem_id >= 2
            assert p.reg.nr_offset == 0
            assert p.reg.nr_memsize == 4096 + 32768 + 8388608 == size
            assert (p.reg.nr_tx_slots, p.reg.nr_rx_slots) == (16, 16)
            e = ext_body(opt)
            assert opt.status == 0
            assert e.nro_usrptr == um.addr and e.nro_info.nr_memsize == size
            info = pools_info(name)
            assert info.nr_mem_id == p.reg.nr_mem_id and info.nr_memsize == size
            assert (info.nr_if_pool_offset, info.nr_if_pool_objtotal) == (0, 2)
            assert info.nr_if_pool_objsize == 1024
            assert (info.nr_ring_pool_offset, info.nr_ring_pool_objtotal) == (4096, 64)
            assert info.nr_ring_pool_objsize == 512
            assert (info.nr_buf_pool_offset, info.nr_buf_pool_objtotal) == (36864, 4096)
            assert info.nr_buf_pool_objsize == 2048
            # The kernel wrote the netmap_if and the rings into the user's pages.
            assert p.nifp.ni_name == name.encode()
            assert p.tx.num_slots == 16 and p.rx.num_slots == 16
            assert p.tx.buf_base == 36864
            assert pinned() == size // PAGE
        assert pinned() == 0


def test_defaults_are_written_back(pname):
    """Zero counts and sizes become 2x1024, 4x(5 pages), 4098x2048; nr_memsize stays.

    On an existing port, so that the option is processed whole but its region (whose rings
    of 5 pages may cross pages that are not contiguous) is not used.
    """
    size = 4096 + 4 * 20480 + 4098 * 2048
    size = (size + PAGE - 1) // PAGE * PAGE
    name = f"vale{pname}:a"
    with UserMem(size) as um, Port.open(name) as first:
        opt = extmem(um.addr, size)
        with Port.open(name, options=[opt], map=False) as p:
            e = ext_body(opt).nro_info
            assert opt.status == 0
            assert (e.nr_if_pool_objtotal, e.nr_if_pool_objsize) == (2, 1024)
            assert (e.nr_ring_pool_objtotal, e.nr_ring_pool_objsize) == (4, 5 * PAGE)
            assert (e.nr_buf_pool_objtotal, e.nr_buf_pool_objsize) == (4098, 2048)
            assert e.nr_memsize == size
            assert p.reg.nr_mem_id == first.reg.nr_mem_id


def test_surplus_goes_to_the_buffer_pool(pname):
    size = SMALL_SIZE + 100 * PAGE
    name = f"vale{pname}:0"
    with UserMem(size) as um, open_ext(name, um, extmem(um.addr, size, **SMALL)) as p:
        info = pools_info(name)
        assert info.nr_buf_pool_objtotal == 1024 + 200
        assert p.reg.nr_memsize == size


# -- traffic through user memory ------------------------------------------------------------


def test_frames_between_vale_ports_in_user_memory(pname):
    sw = f"vale{pname}"
    with UserMem(SMALL_SIZE) as ua, UserMem(SMALL_SIZE) as ub:
        a = open_ext(f"{sw}:a", ua, extmem(ua.addr, SMALL_SIZE, **SMALL), tx_slots=64)
        b = open_ext(f"{sw}:b", ub, extmem(ub.addr, SMALL_SIZE, **SMALL), rx_slots=64)
        with a, b:
            assert a.reg.nr_mem_id != b.reg.nr_mem_id
            sent = frames(50)  # fewer than b's rx slots: VALE drops what does not fit
            # Written into a's user memory, read back from b's.
            assert transfer(a, b, sent) == sent
            assert transfer(b, a, frames(30, 500)) == frames(30, 500)
            assert pinned() == 2 * SMALL_SIZE // PAGE


def test_pipe_buffers_are_the_user_memory(pname):
    with UserMem(SMALL_SIZE) as um:
        m = open_ext(f"{pname}{{1", um, extmem(um.addr, SMALL_SIZE, **SMALL), tx_slots=64)
        # The other end takes the region through the parent, and maps it through its fd.
        with m, Port.open(f"{pname}}}1") as s:
            assert s.reg.nr_mem_id == m.reg.nr_mem_id and s.memsize == m.memsize
            sent = frames(50)
            assert transfer(m, s, sent) == sent
            # The bytes s read through its mapping are the user's own pages.
            ring = s.rx
            last = (ring.cur - 1) % ring.num_slots
            idx, length, _ = ring.get(last)
            user = ctypes.string_at(um.addr + ring.buf_offset(idx), length)
            assert user == sent[-1][0]
            back = frames(40, 1000)
            assert transfer(s, m, back) == back


def test_another_descriptor_maps_the_same_pages(pname):
    um = UserMem(SMALL_SIZE)
    with um, open_ext(f"{pname}{{1", um, extmem(um.addr, SMALL_SIZE, **SMALL)):
        fd = dev_open()
        try:
            body = abi.NmreqRegister(nr_mode=abi.NR_REG_ALL_NIC)
            ctrl(fd, Request(abi.NETMAP_REQ_REGISTER, f"{pname}}}1", body))
            addr = libc.mmap(fd, body.nr_memsize)
            # Two pages of buffers nobody uses: the last ones of the region.
            a, b = SMALL_SIZE - PAGE + 5, SMALL_SIZE - 2 * PAGE
            try:
                ctypes.memmove(um.addr + a, b"netmap", 6)
                assert ctypes.string_at(addr + a, 6) == b"netmap"
                ctypes.memmove(addr + b, b"back", 4)
                assert ctypes.string_at(um.addr + b, 4) == b"back"
                # A private (copy-on-write) mapping is refused.
                assert errno_of(libc.mmap, fd, PAGE, 0, libc.PROT_RW, 2) == errno.EINVAL
            finally:
                libc.munmap(addr, body.nr_memsize)
        finally:
            os.close(fd)


def test_idle_nic_takes_the_region():
    """A NIC with no users switches to the region, keeps it while bound, then is global again."""
    with veth_pair() as (a, b), UserMem(SMALL_SIZE) as um:
        p = open_ext(a, um, extmem(um.addr, SMALL_SIZE, **SMALL))
        with p, RawSocket(b, ETH_P_TEST) as sock:
            assert p.reg.nr_mem_id != 1
            assert pinned() == SMALL_SIZE // PAGE
            # Bound: another descriptor shares the region, and another EXTMEM goes unused.
            with UserMem(SMALL_SIZE) as other:
                opt = extmem(other.addr, SMALL_SIZE, **SMALL)
                with Port.open(a, abi.NR_REG_SW, options=[opt]) as host:
                    assert opt.status == 0
                    assert host.reg.nr_mem_id == p.reg.nr_mem_id
                    assert pinned() == SMALL_SIZE // PAGE
            sent = [tframe(i, 60 + 13 * i) for i in range(20)]
            assert p.tx.put([[f] for f in sent]) == len(sent)
            p.txsync()
            assert sock.recv_test_frames(len(sent)) == sent
            back = [tframe(100 + i, 90 + 11 * i) for i in range(20)]
            for f in back:
                sock.send(f)
            got: list[bytes] = []
            deadline = time.monotonic() + 10
            while len(got) < len(back) and time.monotonic() < deadline:
                p.poll(select.POLLIN, 100)
                got += [b"".join(x) for x in p.rx.take() if is_test_frame(b"".join(x))]
            assert got == back  # read from the user's pages
        with Port.open(a) as again:
            assert again.reg.nr_mem_id == 1
    assert pinned() == 0


# -- regions: reuse, overlap, ports that keep theirs ----------------------------------------


def test_same_pages_reuse_the_region(pname):
    sw = f"vale{pname}"
    um, other = UserMem(SMALL_SIZE), UserMem(SMALL_SIZE)
    with um, other, open_ext(f"{sw}:a", um, extmem(um.addr, SMALL_SIZE, **SMALL), tx_slots=64) as a:
        # The same pages with another geometry: the region built on them, no error.
        opt = extmem(um.addr, SMALL_SIZE, if_=(4, 2048))
        with Port.open(f"{sw}:b", options=[opt], tx_slots=64, rx_slots=64) as b:
            assert opt.status == 0
            assert b.reg.nr_mem_id == a.reg.nr_mem_id
            assert b.memsize == a.memsize
            assert pinned() == SMALL_SIZE // PAGE
            c = open_ext(f"{sw}:c", other, extmem(other.addr, SMALL_SIZE, **SMALL))
            with c:
                assert c.reg.nr_mem_id not in (a.reg.nr_mem_id, b.reg.nr_mem_id)
                assert pinned() == 2 * SMALL_SIZE // PAGE
                assert transfer(a, c, frames(20)) == frames(20)
    assert pinned() == 0


def test_overlapping_memory_makes_another_region(pname):
    """Not the same pages: a region of its own, with its own pins on the shared pages."""
    sw = f"vale{pname}"
    um = UserMem(SMALL_SIZE + PAGE)
    with um, open_ext(f"{sw}:a", um, extmem(um.addr, SMALL_SIZE, **SMALL)) as a:
        later = um.addr + PAGE
        opt = extmem(later, SMALL_SIZE, **SMALL)
        b = ExtPort.open(f"{sw}:b", options=[opt], map=False)
        b.attach(later)
        with b:
            assert b.reg.nr_mem_id != a.reg.nr_mem_id
            assert pinned() == 2 * SMALL_SIZE // PAGE
            # The two regions share pages, so their rings overwrite each other: the
            # kernel must only survive it.
            for port in (a, b):
                port.tx.put(frames(5))
                errno_of(port.txsync)
                errno_of(port.rxsync)
    assert pinned() == 0


def test_existing_vale_port_keeps_its_region(pname):
    name = f"vale{pname}:a"
    with Port.open(name) as a, UserMem(SMALL_SIZE) as um:
        opt = extmem(um.addr, SMALL_SIZE, **SMALL)
        with Port.open(name, options=[opt]) as again:
            assert opt.status == 0
            assert again.reg.nr_mem_id == a.reg.nr_mem_id
            assert again.memsize == a.memsize
            # The option's region had no taker and is gone already.
            assert pinned() == 0


# -- objects across pages that do not follow each other -------------------------------------


def _pfns(addr: int, npages: int) -> list[int]:
    """The page frames behind [addr, addr + npages pages), from /proc/self/pagemap (root)."""
    with open("/proc/self/pagemap", "rb") as f:
        f.seek(addr // PAGE * 8)
        words = struct.unpack(f"<{npages}Q", f.read(8 * npages))
    assert all(w >> 63 for w in words), "every page is present"
    return [w & ((1 << 55) - 1) for w in words]


def test_objects_across_discontiguous_pages_are_not_used(pname):
    """Ring objects of 3/4 page: half of them cross a page boundary, and those are usable only
    where the two pages follow each other physically. The region hands out exactly the
    usable ones."""
    nring, rsize = 24, 3072
    pools = {"if_": (4, 1024), "ring": (nring, rsize), "buf": (512, 2048)}
    size = PAGE + nring * rsize + 512 * 2048
    sw = f"vale{pname}"
    small = {"tx_slots": 8, "rx_slots": 8}
    with UserMem(size) as um:
        libc._libc.madvise(ctypes.c_void_p(um.addr), ctypes.c_size_t(size), 15)  # NOHUGEPAGE
        ctypes.memset(um.addr, 0, size)

        def opt() -> Option:
            return extmem(um.addr, size, **pools)

        def ok(i: int, pfn: list[int]) -> bool:
            start = PAGE + i * rsize
            pages = range(start // PAGE, (start + rsize - 1) // PAGE)
            return all(pfn[k + 1] == pfn[k] + 1 for k in pages)

        with Port.open(f"{sw}:a", options=[opt()], map=False, **small):
            pfn = _pfns(um.addr, size // PAGE)  # pinned now: they stay where they are
            usable = [i for i in range(1, nring) if ok(i, pfn)]
            left = len(usable) - 2  # port a holds two
            assert left >= 2, "a quarter of the objects never cross a page"
            rings = {"tx_rings": left // 2, "rx_rings": left - left // 2}
            with Port.open(f"{sw}:b", options=[opt()], map=False, **rings, **small):
                assert register_errno(f"{sw}:c", [opt()], **small) == errno.ENOMEM
    assert pinned() == 0


def test_objects_across_contiguous_pages_are_used(pname):
    """With huge pages behind it, rings of the default 5 pages are all usable."""
    huge = 2 << 20
    with open("/proc/sys/vm/nr_hugepages") as f:
        saved = int(f.read())
    with open("/proc/sys/vm/nr_hugepages", "w") as f:
        f.write(str(saved + 8))
    try:
        flags = 0x01 | 0x20 | 0x40000  # MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB
        try:
            addr = libc.mmap(-1, 8 * huge, 0, libc.PROT_RW, flags)
        except OSError:
            pytest.skip("no huge pages in the lab")
        try:
            opt = extmem(addr, 8 * huge)  # defaults: 4 rings of 5 pages
            name = f"vale{pname}:a"
            with Port.open(name, options=[opt], map=False, tx_rings=1, rx_rings=2) as p:
                assert pools_info(name).nr_ring_pool_objsize == 5 * PAGE
                assert p.reg.nr_memsize <= 8 * huge
        finally:
            libc.munmap(addr, 8 * huge)
    finally:
        with open("/proc/sys/vm/nr_hugepages", "w") as f:
            f.write(str(saved))
    assert pinned() == 0


# -- errors ---------------------------------------------------------------------------------


def test_too_small_is_enomem(pname):
    with UserMem(SMALL_SIZE) as um:
        # One byte short of the pools as asked (not as page-rounded).
        opt = extmem(um.addr, 2 * 1024 + 8 * 4096 + 1024 * 2048 - 1, **SMALL)
        assert register_errno(f"vale{pname}:a", [opt]) == errno.ENOMEM
        assert opt.status == errno.ENOMEM
        assert pinned() == 0


def test_bad_extmem_option_is_enomem(pname):
    """ctrl-api-test bad_extmem_option: 64 rings of 1 MiB inside about 8 MiB."""
    size = 8 << 20
    with UserMem(size) as um:
        opt = extmem(um.addr, size, if_=(1, 1024), ring=(64, 1 << 20), buf=(2, 2048))
        assert register_errno(f"vale{pname}:a", [opt]) == errno.ENOMEM
        assert pinned() == 0


@pytest.mark.parametrize(
    "pools",
    [
        {"if_": (0xFFFFFFFF, 0xFFFFFFFF), "ring": (0xFFFFFFFF, 0xFFFFFFFF)},
        {"buf": (0xFFFFFFFF, 0xFFFFFFFF)},
        {"ring": (0x10000, 0x10000), "buf": (0x10000, 0x10000)},
    ],
)
def test_overflowing_pool_sizes_are_enomem(pname, pools):
    with UserMem(SMALL_SIZE) as um:
        opt = extmem(um.addr, SMALL_SIZE, **pools)
        assert register_errno(f"vale{pname}:a", [opt]) == errno.ENOMEM
        assert pinned() == 0


@pytest.mark.parametrize("memsize", [0, 1 << 40, (1 << 64) - 1])
def test_absurd_memsize_is_enomem(pname, memsize):
    with UserMem(SMALL_SIZE) as um:
        opt = extmem(um.addr, memsize, **SMALL)
        assert register_errno(f"vale{pname}:a", [opt]) == errno.ENOMEM
        assert pinned() == 0


def test_pools_out_of_bounds_are_einval(pname):
    with UserMem(SMALL_SIZE) as um:
        bad = ({"ring": (8, 100)}, {"buf": (1, 2048)}, {"if_": (2, 1 << 17), "buf": (512, 2048)})
        for pools in bad:
            opt = extmem(um.addr, SMALL_SIZE, **{**SMALL, **pools})
            assert register_errno(f"vale{pname}:a", [opt]) == errno.EINVAL
            assert opt.status == errno.EINVAL
        assert pinned() == 0


def test_unmapped_memory_is_efault(pname):
    um = UserMem(SMALL_SIZE)
    addr = um.addr
    um.free()
    opt = extmem(addr, SMALL_SIZE, **SMALL)
    assert register_errno(f"vale{pname}:a", [opt]) == errno.EFAULT
    assert opt.status == errno.EFAULT
    assert pinned() == 0


def test_partly_unmapped_memory_is_efault_and_pins_nothing(pname):
    with UserMem(2 * SMALL_SIZE) as um:
        libc.munmap(um.addr + SMALL_SIZE, SMALL_SIZE)
        opt = extmem(um.addr, 2 * SMALL_SIZE, **SMALL)
        assert register_errno(f"vale{pname}:a", [opt]) == errno.EFAULT
        assert pinned() == 0
        um.size = SMALL_SIZE


def test_read_only_memory_is_efault(pname):
    with UserMem(SMALL_SIZE) as um:
        libc.mprotect(um.addr, SMALL_SIZE, 1)  # PROT_READ
        opt = extmem(um.addr, SMALL_SIZE, **SMALL)
        assert register_errno(f"vale{pname}:a", [opt]) == errno.EFAULT
        assert pinned() == 0


def test_kernel_address_is_efault(pname):
    opt = extmem(0xFFFF888000000000, SMALL_SIZE, **SMALL)
    assert register_errno(f"vale{pname}:a", [opt]) == errno.EFAULT
    assert pinned() == 0


def test_duplicate_extmem_is_einval_and_pins_nothing(pname):
    with UserMem(SMALL_SIZE) as um:
        opts = [extmem(um.addr, SMALL_SIZE, **SMALL), extmem(um.addr, SMALL_SIZE, **SMALL)]
        assert register_errno(f"vale{pname}:a", opts) == errno.EINVAL
        assert pinned() == 0


def test_extmem_on_other_requests_is_not_acted_on(pname):
    with UserMem(SMALL_SIZE) as um:
        opt = extmem(um.addr, SMALL_SIZE, **SMALL)
        body = abi.NmreqRegister()
        req = Request(abi.NETMAP_REQ_PORT_INFO_GET, f"vale{pname}:a", body, [opt])
        fd = dev_open()
        try:
            errno_of(ctrl, fd, req)
        finally:
            os.close(fd)
        assert opt.status == errno.EOPNOTSUPP
        assert pinned() == 0


# -- hostile use of the memory ---------------------------------------------------------------


def test_unaligned_pointer_lays_out_from_its_page(pname):
    """The region starts at the first pinned page, before the pointer itself."""
    with UserMem(SMALL_SIZE + PAGE) as um:
        opt = extmem(um.addr + 100, SMALL_SIZE, **SMALL)
        name = f"{pname}{{1"
        with open_ext(name, um, opt, tx_slots=64) as m, Port.open(f"{pname}}}1") as s:
            assert pinned() == SMALL_SIZE // PAGE + 1
            assert m.reg.nr_offset == 0
            assert m.nifp.ni_name == name.encode()  # at um.addr, not at um.addr + 100
            assert transfer(m, s, frames(20)) == frames(20)
            assert transfer(s, m, frames(20, 9)) == frames(20, 9)
    assert pinned() == 0


def test_munmap_while_in_use(pname):
    """The user unmaps its memory under a live region: the pins keep the kernel safe."""
    um = UserMem(SMALL_SIZE)
    m = open_ext(f"{pname}{{1", um, extmem(um.addr, SMALL_SIZE, **SMALL), rx_slots=64)
    with m, Port.open(f"{pname}}}1") as s:
        assert transfer(m, s, frames(10)) == frames(10)
        m.unmap()
        um.free()  # the region now lives only in the pinned pages
        sent = frames(30, 40)
        assert s.tx.put(sent) == len(sent)
        s.txsync()
        m.rxsync()
        m.txsync()
        assert pinned() == SMALL_SIZE // PAGE
        # A mapping of the descriptor still shows the region, with the frames in it.
        Port.map(m)
        try:
            assert m.rx.take() == sent
            assert transfer(s, m, frames(5, 90)) == frames(5, 90)
            assert transfer(m, s, frames(5, 95)) == frames(5, 95)
        finally:
            Port.unmap(m)
    assert pinned() == 0
