"""ctypes mirrors of the netmap user ABI (API 14), x86-64 LP64.

One class per C struct of kernel/include/uapi/net/netmap.h and netmap_legacy.h, with the same
field names, plus the constants tests need. tests/integration/test_netmap_ctypes.py checks every
size and offset here against the C header compiled with gcc, and against docs/abi facts.
"""

import ctypes
from ctypes import c_char, c_int32, c_int64, c_uint8, c_uint16, c_uint32, c_uint64

NETMAP_API = 14
NETMAP_MIN_API = 14
NETMAP_MAX_API = 15
NM_IFNAMSIZ = 16
NETMAP_REQ_IFNAMSIZ = 64
NETMAP_REQ_MAXSIZE = 4096
NETMAP_BUF_SIZE_DEFAULT = 2048
NM_MAX_FRAGS = 64

# netmap_slot.flags
NS_BUF_CHANGED = 0x0001
NS_REPORT = 0x0002
NS_FORWARD = 0x0004
NS_NO_LEARN = 0x0008
NS_INDIRECT = 0x0010
NS_MOREFRAG = 0x0020
NS_TXMON = 0x0040
NS_PORT_SHIFT = 8
NS_PORT_MASK = 0xFF << NS_PORT_SHIFT

# netmap_ring.dir and flags
NR_TX = 1
NR_RX = 0
NR_TIMESTAMP = 0x0002
NR_FORWARD = 0x0004

NI_PRIV_MEM = 0x1

# nmreq_header.nr_reqtype
NETMAP_REQ_REGISTER = 1
NETMAP_REQ_PORT_INFO_GET = 2
NETMAP_REQ_VALE_ATTACH = 3
NETMAP_REQ_VALE_DETACH = 4
NETMAP_REQ_VALE_LIST = 5
NETMAP_REQ_PORT_HDR_SET = 6
NETMAP_REQ_PORT_HDR_GET = 7
NETMAP_REQ_VALE_NEWIF = 8
NETMAP_REQ_VALE_DELIF = 9
NETMAP_REQ_VALE_POLLING_ENABLE = 10
NETMAP_REQ_VALE_POLLING_DISABLE = 11
NETMAP_REQ_POOLS_INFO_GET = 12
NETMAP_REQ_SYNC_KLOOP_START = 13
NETMAP_REQ_SYNC_KLOOP_STOP = 14
NETMAP_REQ_CSB_ENABLE = 15

# nmreq_option.nro_reqtype
NETMAP_REQ_OPT_EXTMEM = 1
NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS = 2
NETMAP_REQ_OPT_CSB = 3
NETMAP_REQ_OPT_SYNC_KLOOP_MODE = 4
NETMAP_REQ_OPT_OFFSETS = 5

# nmreq_register.nr_mode
NR_REG_DEFAULT = 0
NR_REG_ALL_NIC = 1
NR_REG_SW = 2
NR_REG_NIC_SW = 3
NR_REG_ONE_NIC = 4
NR_REG_PIPE_MASTER = 5
NR_REG_PIPE_SLAVE = 6
NR_REG_NULL = 7
NR_REG_ONE_SW = 8

# nmreq_register.nr_flags
NR_MONITOR_TX = 0x100
NR_MONITOR_RX = 0x200
NR_ZCOPY_MON = 0x400
NR_EXCLUSIVE = 0x800
NR_RX_RINGS_ONLY = 0x2000
NR_TX_RINGS_ONLY = 0x4000
NR_ACCEPT_VNET_HDR = 0x8000
NR_DO_RX_POLL = 0x10000
NR_NO_TX_POLL = 0x20000

# legacy nmreq.nr_ringid bits and nr_cmd values
NETMAP_HW_RING = 0x4000
NETMAP_SW_RING = 0x2000
NETMAP_NO_TX_POLL = 0x1000
NETMAP_DO_RX_POLL = 0x8000
NETMAP_RING_MASK = 0x0FFF
NR_REG_MASK = 0xF
NETMAP_BDG_ATTACH = 1
NETMAP_BDG_DETACH = 2
NETMAP_BDG_REGOPS = 3
NETMAP_BDG_LIST = 4
NETMAP_BDG_VNET_HDR = 5
NETMAP_BDG_NEWIF = 6
NETMAP_BDG_DELIF = 7
NETMAP_BDG_POLLING_ON = 10
NETMAP_BDG_POLLING_OFF = 11
NETMAP_VNET_HDR_GET = 12
NM_IFRDATA_LEN = 256


class NetmapSlot(ctypes.Structure):
    _fields_ = [
        ("buf_idx", c_uint32),
        ("len", c_uint16),
        ("flags", c_uint16),
        ("ptr", c_uint64),
    ]


class Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", c_int64), ("tv_usec", c_int64)]


class NetmapRing(ctypes.Structure):
    """The ring header; slot[] starts at NETMAP_RING_SLOT_OFS (use Ring.slots)."""

    _fields_ = [
        ("buf_ofs", c_int64),
        ("num_slots", c_uint32),
        ("nr_buf_size", c_uint32),
        ("ringid", c_uint16),
        ("dir", c_uint16),
        ("head", c_uint32),
        ("cur", c_uint32),
        ("tail", c_uint32),
        ("flags", c_uint32),
        ("ts", Timeval),
        ("offset_mask", c_uint64),
        ("buf_align", c_uint64),
        ("_pad", c_uint8 * 56),  # up to the 128-aligned sem
        ("sem", c_uint8 * 128),
    ]


NETMAP_RING_SLOT_OFS = ctypes.sizeof(NetmapRing)  # 256


class NetmapIf(ctypes.Structure):
    """The netmap_if header; ring_ofs[] (ssize_t) starts at NETMAP_IF_RING_OFS."""

    _fields_ = [
        ("ni_name", c_char * NM_IFNAMSIZ),
        ("ni_version", c_uint32),
        ("ni_flags", c_uint32),
        ("ni_tx_rings", c_uint32),
        ("ni_rx_rings", c_uint32),
        ("ni_bufs_head", c_uint32),
        ("ni_host_tx_rings", c_uint32),
        ("ni_host_rx_rings", c_uint32),
        ("ni_spare1", c_uint32 * 3),
    ]


NETMAP_IF_RING_OFS = ctypes.sizeof(NetmapIf)  # 56


class NmreqOption(ctypes.Structure):
    _fields_ = [
        ("nro_next", c_uint64),
        ("nro_reqtype", c_uint32),
        ("nro_status", c_uint32),
        ("nro_size", c_uint64),
    ]


class NmreqHeader(ctypes.Structure):
    _fields_ = [
        ("nr_version", c_uint16),
        ("nr_reqtype", c_uint16),
        ("nr_reserved", c_uint32),
        ("nr_name", c_char * NETMAP_REQ_IFNAMSIZ),
        ("nr_options", c_uint64),
        ("nr_body", c_uint64),
    ]


class NmreqRegister(ctypes.Structure):
    _fields_ = [
        ("nr_offset", c_uint64),
        ("nr_memsize", c_uint64),
        ("nr_tx_slots", c_uint32),
        ("nr_rx_slots", c_uint32),
        ("nr_tx_rings", c_uint16),
        ("nr_rx_rings", c_uint16),
        ("nr_host_tx_rings", c_uint16),
        ("nr_host_rx_rings", c_uint16),
        ("nr_mem_id", c_uint16),
        ("nr_ringid", c_uint16),
        ("nr_mode", c_uint32),
        ("nr_extra_bufs", c_uint32),
        ("nr_flags", c_uint64),
    ]


class NmreqPortInfoGet(ctypes.Structure):
    """NETMAP_REQ_PORT_INFO_GET's own 32-byte body (not a nmreq_register)."""

    _fields_ = [
        ("nr_memsize", c_uint64),
        ("nr_tx_slots", c_uint32),
        ("nr_rx_slots", c_uint32),
        ("nr_tx_rings", c_uint16),
        ("nr_rx_rings", c_uint16),
        ("nr_host_tx_rings", c_uint16),
        ("nr_host_rx_rings", c_uint16),
        ("nr_mem_id", c_uint16),
        ("pad", c_uint16 * 3),
    ]


class NmreqValeAttach(ctypes.Structure):
    _fields_ = [("reg", NmreqRegister), ("port_index", c_uint32), ("pad1", c_uint32)]


class NmreqValeDetach(ctypes.Structure):
    _fields_ = [("port_index", c_uint32), ("pad1", c_uint32)]


class NmreqValeList(ctypes.Structure):
    _fields_ = [("nr_bridge_idx", c_uint16), ("pad1", c_uint16), ("nr_port_idx", c_uint32)]


class NmreqPortHdr(ctypes.Structure):
    _fields_ = [("nr_hdr_len", c_uint32), ("pad1", c_uint32)]


class NmreqValeNewif(ctypes.Structure):
    _fields_ = [
        ("nr_tx_slots", c_uint32),
        ("nr_rx_slots", c_uint32),
        ("nr_tx_rings", c_uint16),
        ("nr_rx_rings", c_uint16),
        ("nr_mem_id", c_uint16),
        ("pad1", c_uint16),
    ]


class NmreqValePolling(ctypes.Structure):
    _fields_ = [
        ("nr_mode", c_uint32),
        ("nr_first_cpu_id", c_uint32),
        ("nr_num_polling_cpus", c_uint32),
        ("pad1", c_uint32),
    ]


class NmreqPoolsInfo(ctypes.Structure):
    _fields_ = [
        ("nr_memsize", c_uint64),
        ("nr_mem_id", c_uint16),
        ("pad1", c_uint16 * 3),
        ("nr_if_pool_offset", c_uint64),
        ("nr_if_pool_objtotal", c_uint32),
        ("nr_if_pool_objsize", c_uint32),
        ("nr_ring_pool_offset", c_uint64),
        ("nr_ring_pool_objtotal", c_uint32),
        ("nr_ring_pool_objsize", c_uint32),
        ("nr_buf_pool_offset", c_uint64),
        ("nr_buf_pool_objtotal", c_uint32),
        ("nr_buf_pool_objsize", c_uint32),
    ]


class NmreqSyncKloopStart(ctypes.Structure):
    _fields_ = [("sleep_us", c_uint32), ("pad1", c_uint32)]


class NmreqOptExtmem(ctypes.Structure):
    _fields_ = [("nro_opt", NmreqOption), ("nro_usrptr", c_uint64), ("nro_info", NmreqPoolsInfo)]


class NmKloopEventfds(ctypes.Structure):
    _fields_ = [("ioeventfd", c_int32), ("irqfd", c_int32)]


class NmreqOptSyncKloopMode(ctypes.Structure):
    _fields_ = [("nro_opt", NmreqOption), ("mode", c_uint32), ("pad1", c_uint32)]


class NmreqOptCsb(ctypes.Structure):
    _fields_ = [("nro_opt", NmreqOption), ("csb_atok", c_uint64), ("csb_ktoa", c_uint64)]


class NmreqOptOffsets(ctypes.Structure):
    _fields_ = [
        ("nro_opt", NmreqOption),
        ("nro_max_offset", c_uint64),
        ("nro_initial_offset", c_uint64),
        ("nro_offset_bits", c_uint32),
        ("nro_tx_align", c_uint32),
        ("nro_min_gap", c_uint64),
    ]


class NmCsbAtok(ctypes.Structure):
    _fields_ = [
        ("head", c_uint32),
        ("cur", c_uint32),
        ("appl_need_kick", c_uint32),
        ("sync_flags", c_uint32),
        ("pad", c_uint32 * 12),
    ]


class NmCsbKtoa(ctypes.Structure):
    _fields_ = [
        ("hwcur", c_uint32),
        ("hwtail", c_uint32),
        ("kern_need_kick", c_uint32),
        ("pad", c_uint32 * 13),
    ]


class Nmreq(ctypes.Structure):
    """The legacy request of NIOCGINFO and NIOCREGIF (60 bytes)."""

    _fields_ = [
        ("nr_name", c_char * NM_IFNAMSIZ),
        ("nr_version", c_uint32),
        ("nr_offset", c_uint32),
        ("nr_memsize", c_uint32),
        ("nr_tx_slots", c_uint32),
        ("nr_rx_slots", c_uint32),
        ("nr_tx_rings", c_uint16),
        ("nr_rx_rings", c_uint16),
        ("nr_ringid", c_uint16),
        ("nr_cmd", c_uint16),
        ("nr_arg1", c_uint16),
        ("nr_arg2", c_uint16),
        ("nr_arg3", c_uint32),
        ("nr_flags", c_uint32),
        ("spare2", c_uint32 * 1),
    ]


class NmIfreq(ctypes.Structure):
    _fields_ = [("nifr_name", c_char * NM_IFNAMSIZ), ("data", c_char * NM_IFRDATA_LEN)]


# ioctl numbers, built the way <asm-generic/ioctl.h> builds them.
_IOC_NONE, _IOC_WRITE, _IOC_READ = 0, 1, 2


def _ioc(direction: int, typ: str, nr: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (ord(typ) << 8) | nr


def _iowr(typ: str, nr: int, size: int) -> int:
    return _ioc(_IOC_READ | _IOC_WRITE, typ, nr, size)


NIOCGINFO = _iowr("i", 145, ctypes.sizeof(Nmreq))
NIOCREGIF = _iowr("i", 146, ctypes.sizeof(Nmreq))
NIOCTXSYNC = _ioc(_IOC_NONE, "i", 148, 0)
NIOCRXSYNC = _ioc(_IOC_NONE, "i", 149, 0)
NIOCCONFIG = _iowr("i", 150, ctypes.sizeof(NmIfreq))
NIOCCTRL = _iowr("i", 151, ctypes.sizeof(NmreqHeader))

# Body type of each request (None: no body).
REQ_BODY: dict[int, type[ctypes.Structure] | None] = {
    NETMAP_REQ_REGISTER: NmreqRegister,
    NETMAP_REQ_PORT_INFO_GET: NmreqPortInfoGet,
    NETMAP_REQ_VALE_ATTACH: NmreqValeAttach,
    NETMAP_REQ_VALE_DETACH: NmreqValeDetach,
    NETMAP_REQ_VALE_LIST: NmreqValeList,
    NETMAP_REQ_PORT_HDR_SET: NmreqPortHdr,
    NETMAP_REQ_PORT_HDR_GET: NmreqPortHdr,
    NETMAP_REQ_VALE_NEWIF: NmreqValeNewif,
    NETMAP_REQ_VALE_DELIF: None,
    NETMAP_REQ_VALE_POLLING_ENABLE: NmreqValePolling,
    NETMAP_REQ_VALE_POLLING_DISABLE: NmreqValePolling,
    NETMAP_REQ_POOLS_INFO_GET: NmreqPoolsInfo,
    NETMAP_REQ_SYNC_KLOOP_START: NmreqSyncKloopStart,
    NETMAP_REQ_SYNC_KLOOP_STOP: None,
    NETMAP_REQ_CSB_ENABLE: None,
}
