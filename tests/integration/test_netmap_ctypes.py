"""The ctypes ABI mirrors of tests/lab/nm match our C header and the ABI sheet.

Every struct field's offset, every struct's size, every constant and ioctl number is compared
with what gcc computes from kernel/include/uapi/net/netmap.h; a second set of checks pins the
figures of the ABI sheet (design/abi.md) directly, so a wrong header cannot pass either.
"""

import ctypes
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "lab"))

from nm import abi  # noqa: E402

UAPI = ROOT / "kernel" / "include" / "uapi"

STRUCTS = {
    "netmap_slot": abi.NetmapSlot,
    "netmap_ring": abi.NetmapRing,
    "netmap_if": abi.NetmapIf,
    "nmreq_option": abi.NmreqOption,
    "nmreq_header": abi.NmreqHeader,
    "nmreq_register": abi.NmreqRegister,
    "nmreq_port_info_get": abi.NmreqPortInfoGet,
    "nmreq_vale_attach": abi.NmreqValeAttach,
    "nmreq_vale_detach": abi.NmreqValeDetach,
    "nmreq_vale_list": abi.NmreqValeList,
    "nmreq_port_hdr": abi.NmreqPortHdr,
    "nmreq_vale_newif": abi.NmreqValeNewif,
    "nmreq_vale_polling": abi.NmreqValePolling,
    "nmreq_pools_info": abi.NmreqPoolsInfo,
    "nmreq_sync_kloop_start": abi.NmreqSyncKloopStart,
    "nmreq_opt_extmem": abi.NmreqOptExtmem,
    "nm_kloop_eventfds": abi.NmKloopEventfds,
    "nmreq_opt_sync_kloop_mode": abi.NmreqOptSyncKloopMode,
    "nmreq_opt_csb": abi.NmreqOptCsb,
    "nmreq_opt_offsets": abi.NmreqOptOffsets,
    "nm_csb_atok": abi.NmCsbAtok,
    "nm_csb_ktoa": abi.NmCsbKtoa,
    "nmreq": abi.Nmreq,
    "nm_ifreq": abi.NmIfreq,
}
IOCTLS = ("NIOCCTRL", "NIOCTXSYNC", "NIOCRXSYNC", "NIOCGINFO", "NIOCREGIF", "NIOCCONFIG")


def _constants() -> dict[str, int]:
    header = (UAPI / "net" / "netmap.h").read_text() + (
        UAPI / "net" / "netmap_legacy.h"
    ).read_text()
    return {
        name: value
        for name, value in vars(abi).items()
        if name.isupper() and isinstance(value, int) and name in header
    }


@pytest.fixture(scope="module")
def c_layout(tmp_path_factory) -> dict[str, int]:
    """sizeof/offsetof of every mirrored struct and field, and every constant, from gcc."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    lines = [
        "#include <stdio.h>",
        "#include <stddef.h>",
        "#include <net/netmap.h>",
        "int main(void) {",
    ]
    for cname, cls in STRUCTS.items():
        lines.append(f'printf("sizeof.{cname} %zu\\n", sizeof(struct {cname}));')
        for field, *_ in cls._fields_:
            if field.startswith("_"):
                continue
            lines.append(
                f'printf("offsetof.{cname}.{field} %zu\\n", offsetof(struct {cname}, {field}));'
            )
    for name in _constants():
        lines.append(f'printf("const.{name} %llu\\n", (unsigned long long)({name}));')
    lines.append('printf("offsetof.netmap_ring.slot %zu\\n", offsetof(struct netmap_ring, slot));')
    lines.append(
        'printf("offsetof.netmap_if.ring_ofs %zu\\n", offsetof(struct netmap_if, ring_ofs));'
    )
    lines += ["return 0;", "}"]
    tmp = tmp_path_factory.mktemp("abi")
    src, exe = tmp / "abi.c", tmp / "abi"
    src.write_text("\n".join(lines) + "\n")
    subprocess.run([cc, "-Wall", "-Werror", f"-I{UAPI}", str(src), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return {k: int(v) for k, v in (line.split() for line in out.splitlines())}


@pytest.mark.parametrize("cname", sorted(STRUCTS))
def test_struct_matches_header(c_layout, cname):
    cls = STRUCTS[cname]
    assert ctypes.sizeof(cls) == c_layout[f"sizeof.{cname}"]
    for field, *_ in cls._fields_:
        if not field.startswith("_"):
            got = getattr(cls, field).offset
            assert got == c_layout[f"offsetof.{cname}.{field}"], f"{cname}.{field}"


def test_constants_match_header(c_layout):
    consts = _constants()
    assert len(consts) > 80
    for name, value in consts.items():
        assert value == c_layout[f"const.{name}"], name


def test_variable_arrays_follow_the_headers(c_layout):
    assert c_layout["offsetof.netmap_ring.slot"] == abi.NETMAP_RING_SLOT_OFS == 256
    assert c_layout["offsetof.netmap_if.ring_ofs"] == abi.NETMAP_IF_RING_OFS == 56


def test_abi_sheet_figures():
    """Figures taken from the ABI sheet, independent of our header."""
    assert abi.NIOCCTRL == 0xC0586997
    assert abi.NIOCGINFO == 0xC03C6991
    assert abi.NIOCREGIF == 0xC03C6992
    assert abi.NIOCTXSYNC == 0x6994
    assert abi.NIOCRXSYNC == 0x6995
    assert ctypes.sizeof(abi.NetmapSlot) == 16
    assert ctypes.sizeof(abi.NmreqHeader) == 88
    assert ctypes.sizeof(abi.NmreqRegister) == 56
    assert ctypes.sizeof(abi.NmreqOption) == 24
    assert ctypes.sizeof(abi.Nmreq) == 60
    assert ctypes.sizeof(abi.NmreqPoolsInfo) == 64
    assert ctypes.sizeof(abi.NmreqPortInfoGet) == 32
    info = {"nr_tx_slots": 8, "nr_tx_rings": 16, "nr_host_tx_rings": 20, "nr_mem_id": 24}
    for field, ofs in info.items():
        assert getattr(abi.NmreqPortInfoGet, field).offset == ofs, field
    assert abi.NmreqRegister.nr_flags.offset == 48
    ring = {
        "buf_ofs": 0, "num_slots": 8, "nr_buf_size": 12, "ringid": 16, "dir": 18, "head": 20,
        "cur": 24, "tail": 28, "flags": 32, "ts": 40, "offset_mask": 56, "buf_align": 64,
        "sem": 128,
    }  # fmt: skip
    for field, ofs in ring.items():
        assert getattr(abi.NetmapRing, field).offset == ofs, field
    nif = {"ni_version": 16, "ni_bufs_head": 32, "ni_host_tx_rings": 36, "ni_host_rx_rings": 40}
    for field, ofs in nif.items():
        assert getattr(abi.NetmapIf, field).offset == ofs, field
    assert (abi.NR_TX, abi.NR_RX) == (1, 0)
