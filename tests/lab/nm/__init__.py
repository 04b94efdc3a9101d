"""A small netmap user library for the lab tests: ABI mirrors, ports, rings, legacy calls.

Import it from tests under tests/lab (pytest puts that directory on sys.path).
"""

from nm import abi, counters
from nm.libc import errno_of, ioctl
from nm.port import Option, Port, Request, Ring, ctrl, dev_open, pools_info, port_info, transfer

__all__ = [
    "Option",
    "Port",
    "Request",
    "Ring",
    "abi",
    "counters",
    "ctrl",
    "dev_open",
    "errno_of",
    "ioctl",
    "pools_info",
    "port_info",
    "transfer",
]
