"""Thin libc wrappers: ioctl with raw pointers, mmap/munmap at known addresses.

ctypes rather than fcntl/mmap modules, so tests can hand the kernel any pointer (bad ones
included) and can unmap a region explicitly while ctypes views of it exist.
"""

import ctypes
import mmap as _mmap
import os
from typing import Any

_libc = ctypes.CDLL(None, use_errno=True)
_libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
_libc.ioctl.restype = ctypes.c_int
_libc.mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]
_libc.mmap.restype = ctypes.c_void_p
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.munmap.restype = ctypes.c_int
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.mprotect.restype = ctypes.c_int
_libc.mremap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_int]
_libc.mremap.restype = ctypes.c_void_p
MREMAP_MAYMOVE = 1

MAP_FAILED = ctypes.c_void_p(-1).value
PROT_RW = _mmap.PROT_READ | _mmap.PROT_WRITE


def _raise(what: str) -> None:
    err = ctypes.get_errno()
    raise OSError(err, f"{what}: {os.strerror(err)}")


def ptr(obj: Any) -> int:
    """The address of a ctypes object, or an int address as is (None is NULL)."""
    if obj is None:
        return 0
    if isinstance(obj, int):
        return obj
    return ctypes.addressof(obj)


def ioctl(fd: int, request: int, arg: Any = None) -> int:
    """ioctl(fd, request, arg); arg is a ctypes object (passed by address) or a raw address."""
    ctypes.set_errno(0)
    rc = _libc.ioctl(fd, request, ptr(arg))
    if rc < 0:
        _raise(f"ioctl {request:#x}")
    return rc


def mmap(
    fd: int, size: int, offset: int = 0, prot: int = PROT_RW, flags: int = _mmap.MAP_SHARED
) -> int:
    """mmap(NULL, size, prot, flags, fd, offset); returns the address."""
    ctypes.set_errno(0)
    addr = _libc.mmap(None, size, prot, flags, fd, offset)
    if addr is None or addr == MAP_FAILED:
        _raise("mmap")
    assert addr is not None
    return addr


def anon_mmap(size: int) -> int:
    """A private anonymous mapping of `size` bytes; returns the address."""
    ctypes.set_errno(0)
    addr = _libc.mmap(None, size, PROT_RW, _mmap.MAP_PRIVATE | _mmap.MAP_ANONYMOUS, -1, 0)
    if addr is None or addr == MAP_FAILED:
        _raise("mmap")
    assert addr is not None
    return addr


def mprotect(addr: int, size: int, prot: int) -> None:
    if _libc.mprotect(addr, size, prot) != 0:
        _raise("mprotect")


def mremap(addr: int, old: int, new: int, flags: int = 0) -> int:
    """mremap(); returns the new address."""
    ctypes.set_errno(0)
    got = _libc.mremap(addr, old, new, flags)
    if got is None or got == MAP_FAILED:
        _raise("mremap")
    assert got is not None
    return got


def munmap(addr: int, size: int) -> None:
    if _libc.munmap(addr, size) != 0:
        _raise("munmap")


def errno_of(fn: object, *args: object, **kwargs: object) -> int:
    """Call fn(*args, **kwargs) and return the errno of the OSError it raises (0 when it
    succeeds)."""
    assert callable(fn)
    try:
        fn(*args, **kwargs)
    except OSError as e:
        return e.errno or 0
    return 0
