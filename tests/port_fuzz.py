"""Port-spec fuzzing shared by the unit tests and the C-parser agreement test."""

import random

from ptnet.errors import UsageError
from ptnet.model.ports import PortSpec, parse_port

TOKENS = [
    "netmap:", "vale", "vale0:", "vale:", "0", "1", "7", "42", "4095", "4096", "65535", "65536",
    "4294967295", "4294967296", "eth0", "a", "Z", "_", "pipe", "{", "}", "^", "*", "-", "@",
    "/", ":", "x", "z", "t", "r", "R", "T", "@conf:", "rings=", "tx-rings=", "rx-rings=",
    "host-rings=", "host-tx-rings=", "host-rx-rings=", "slots=", "tx-slots=", "rx-slots=", ",",
    "=", ".", "..", " ", "\t", "\n", "\x7f", "\u00e9", "abcdefghijklmnop", "q", "\x01",
]  # fmt: skip


def check_one(spec: str) -> PortSpec | None:
    """The property: accepted and round-trips, or a one-line UsageError."""
    try:
        p = parse_port(spec)
    except UsageError as exc:
        text = str(exc)
        assert text.startswith("bad port spec '") and "\n" not in text, text
        assert len(text) < 300, text
        return None
    assert parse_port(str(p)) == p, (spec, str(p))
    assert str(parse_port(str(p))) == str(p)
    assert len(p.nr_name) < 16
    return p


def fuzz_specs(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    tokens = [t for t in TOKENS if t != "\0"]
    return ["".join(rng.choices(tokens, k=rng.randint(0, 9))) for _ in range(n)]
