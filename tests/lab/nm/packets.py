"""Test traffic: packets whose every byte is checkable, in single slots or fragment chains."""

import random
import struct
from collections.abc import Sequence

_PATTERN_LEN = 1 << 18
_pattern: bytes | None = None


def _pat() -> bytes:
    global _pattern
    if _pattern is None:
        _pattern = random.Random(0x5EED).randbytes(_PATTERN_LEN + 4096)
    return _pattern


def payload(seq: int, length: int) -> bytes:
    """`length` bytes unique to `seq`: the seq number, then a slice of a fixed random pattern."""
    head = seq.to_bytes(4, "little")
    if length <= 4:
        return head[:length]
    off = (seq * 7919) % _PATTERN_LEN
    return head + _pat()[off : off + length - 4]


def single(rng: random.Random, count: int, lo: int = 60, hi: int = 2048) -> list[list[bytes]]:
    """`count` one-slot packets of random sizes in [lo, hi]."""
    return [[payload(i, rng.randint(lo, hi))] for i in range(count)]


def chains(
    rng: random.Random, count: int, max_frags: int = 64, buf_size: int = 2048
) -> list[list[bytes]]:
    """`count` packets of 1..max_frags fragments, each fragment 1..buf_size bytes."""
    out = []
    for i in range(count):
        nfrags = rng.randint(1, max_frags)
        lens = [rng.randint(1, buf_size) for _ in range(nfrags)]
        data = payload(i, sum(lens))
        frags, pos = [], 0
        for n in lens:
            frags.append(data[pos : pos + n])
            pos += n
        out.append(frags)
    return out


def mismatch(sent: Sequence[Sequence[bytes]], got: Sequence[Sequence[bytes]]) -> str | None:
    """A description of the first difference between two packet lists, or None."""
    if len(sent) != len(got):
        return f"sent {len(sent)} packets, received {len(got)}"
    for i, (a, b) in enumerate(zip(sent, got, strict=True)):
        if list(a) != list(b):
            ja, jb = b"".join(a), b"".join(b)
            if len(a) != len(b):
                return f"packet {i}: {len(a)} fragments sent, {len(b)} received"
            if ja != jb:
                pos = next((k for k in range(min(len(ja), len(jb))) if ja[k] != jb[k]), None)
                return (
                    f"packet {i}: {len(ja)} bytes sent, {len(jb)} received, "
                    f"first difference at byte {pos}"
                )
            return f"packet {i}: fragment lengths {[len(x) for x in a]} != {[len(x) for x in b]}"
    return None


# --------------------------------------------------------------------------------------------
# Internet checksums and fragment chains
# --------------------------------------------------------------------------------------------


def inet_sum(data: bytes) -> int:
    """The 16-bit ones' complement sum of data (big-endian words, an odd byte padded), folded."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def inet_csum(data: bytes) -> int:
    """The Internet checksum of data: 0 when data holds a correct checksum field."""
    return ~inet_sum(data) & 0xFFFF


def split(rng: random.Random, data: bytes, hi: int = 2048, max_frags: int = 64) -> list[bytes]:
    """data cut at random into fragments of at most hi bytes, and at most max_frags of them."""
    lo = max(1, -(-len(data) // max_frags))
    out, pos = [], 0
    while pos < len(data):
        n = rng.randint(lo, max(lo, hi))
        out.append(data[pos : pos + n])
        pos += n
    return out or [b""]


def cut(data: bytes, size: int = 2048) -> list[bytes]:
    """data in fragments of size bytes (the last one shorter)."""
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]
