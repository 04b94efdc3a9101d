"""ptnet's port-spec grammar (ptnet/model/ports.py) against the real thing: nm_open() of our
netmap_user.h, as QEMU's netmap backend calls it, on the loaded module.

- Specs the Python parser accepts open (when what they name exists).
- Specs it refuses fail in nm_open(): in its parser (EINVAL), on the legacy 16-byte name
  (ENAMETOOLONG), or in the kernel (EINVAL for a bad name, host rings on a VALE port).
- Where both parse a spec, they decode the same name, mode, ring, flags, memory id and counts.

tests/lab/port_spec_check.c is the C side; tests/unit/test_ports.py runs its parser-only half
on the host over random specs.
"""

import errno
import random
import subprocess
from pathlib import Path

import pytest
from nm import Port
from nm.netdev import veth_pair

from ptnet.errors import UsageError
from ptnet.model.ports import PortSpec, parse_port


def nm_open_all(exe: Path, specs: list[str]) -> list[tuple[str, int | None, list[str]]]:
    """For each spec: ("ok", errno of nm_open (0 = opened), C's decoded fields) or
    ("err", None, [C's message])."""
    data = b"".join(s.encode() + b"\0" for s in specs)
    run = subprocess.run([exe, "--open"], input=data, capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr
    out = []
    for rec in run.stdout.split(b"\0")[:-1]:
        text = rec.decode(errors="surrogateescape")
        if text.startswith("err"):
            out.append(("err", None, [text]))
            continue
        f = text.split(" ", 12)
        out.append(("ok", int(f[11]), [*f[1:11], f[12]]))
    assert len(out) == len(specs)
    return out


def decoded(p: PortSpec) -> list[str]:
    """The fields as port_spec_check prints them."""
    c = p.conf
    values = (
        p.nr_mode, p.nr_ringid, p.nr_flags, p.mem_id or 0, c.tx_rings, c.rx_rings,
        c.host_tx_rings, c.host_rx_rings, c.tx_slots, c.rx_slots,
    )  # fmt: skip
    return [*map(str, values), p.nr_name]


def python_refuses(spec: str) -> str:
    with pytest.raises(UsageError) as exc:
        parse_port(spec)
    return str(exc.value)


def test_accepted_specs_open(port_spec_checker, pname):
    with veth_pair() as (a, _):
        held = Port.open(f"{pname}{{5")  # monitors need an active port to watch
        try:
            specs = [
                f"vale{pname}:a",
                f"netmap:vale{pname}:b/x",
                # not vale:{pname}: the pipes below make a netdev named {pname} (their parent,
                # an auto-delete persistent port), and REGISTER of valeS:netdev is EINVAL
                f"vale:{pname}x",
                f"val{pname}:a",  # every name that starts with "val" is a VALE name
                f"vale{pname}:c{{3",
                f"vale{pname}:c}}3-0",
                f"vale{pname}:d@conf:rings=2,slots=256",
                f"vale{pname}:e-1/x@conf:rings=2",
                f"{pname}{{1",
                f"netmap:{pname}}}1-0",
                f"{pname}{{2/x",
                f"{pname}}}4294967295",
                f"{pname}{{1}}2",
                f"netmap:{pname}}}id.x-0",
                f"{pname}{{a:b/x",
                f"netmap:{pname}{{5/t",
                f"netmap:{pname}{{5/r",
                f"netmap:{pname}{{5/rt",
                f"netmap:{pname}{{5/z",
                f"netmap:{a}",
                a,
                f"netmap:{a}^",
                f"netmap:{a}^0",
                f"netmap:{a}*",
                f"netmap:{a}-0/x",
                f"netmap:{a}@1",
                f"netmap:{a}/T",
                f"netmap:{a}/R",
            ]
            results = nm_open_all(port_spec_checker, specs)
        finally:
            held.close()
    for spec, (outcome, err, fields) in zip(specs, results, strict=True):
        p = parse_port(spec)
        assert outcome == "ok", (spec, fields)
        assert fields == decoded(p), spec
        assert err == 0, (spec, errno.errorcode.get(err, err))
        # The canonical text is what QEMU gets: it must decode the same in C.
        assert nm_open_all(port_spec_checker, [str(p)])[0][2] == fields, str(p)


# Specs nm_spec_parse() passes but nm_open() or the kernel refuse whatever exists; the Python
# parser refuses them up front. (bytes >= 0x80 are what a UTF-8 "é" becomes.)
KERNEL_REFUSES = [
    ("netmap:abcdefghijklmnop", errno.ENAMETOOLONG),
    ("abcdefghijk{1234", errno.ENAMETOOLONG),
    ("vale0123456789:1", errno.EINVAL),  # the C parser's own VALE length check
    ("netmap:.", errno.EINVAL),
    ("netmap:..", errno.EINVAL),
    ("..{1", errno.EINVAL),
    ("netmap:a b", errno.EINVAL),
    ("a b{1", errno.EINVAL),
    ("netmap:a\tb", errno.EINVAL),
    ("netmap:a\x7f", errno.EINVAL),
    ("netmap:\u00e9", errno.EINVAL),
    ("netmap:a\nb/x", errno.EINVAL),
    ("vale0:1^", errno.EINVAL),
    ("vale0:1^0", errno.EINVAL),
    ("vale0:1*", errno.EINVAL),
    ("vale0:1*/t", errno.EINVAL),
]

# Specs both parsers refuse.
PARSERS_REFUSE = [
    "",
    "netmap:",
    "x{",
    "netmap:pipe}1{2",
    "netmap:pipe}1}2",
    "pipe{1{2",
    "pipe{1^",
    "netmap:eth0/q",
    "netmap:eth0/",
    "netmap:eth0/RT",
    "netmap:eth0-4096",
    "netmap:eth0@0",
    "netmap:eth0@foo",
    "netmap:eth0@conf:rings=1,",
    "eth0:1",
    "vale0-:1",
    "vale0{1@conf:rings=1",
    "netmap:valx",  # a VALE name (it starts with "val") without its ':'
    "valeA{1",
]


@pytest.mark.parametrize(("spec", "err"), KERNEL_REFUSES)
def test_specs_python_refuses_fail_in_nm_open(port_spec_checker, spec, err):
    python_refuses(spec)
    [(outcome, got, fields)] = nm_open_all(port_spec_checker, [spec])
    if outcome == "ok":
        assert got == err, (spec, errno.errorcode.get(got, got))
    else:
        assert err == errno.EINVAL, fields  # refused by nm_spec_parse itself


def test_specs_both_parsers_refuse(port_spec_checker):
    for spec in PARSERS_REFUSE:
        python_refuses(spec)
    for spec, (outcome, _, fields) in zip(
        PARSERS_REFUSE, nm_open_all(port_spec_checker, PARSERS_REFUSE), strict=True
    ):
        assert outcome == "err", (spec, fields)


def test_random_names_python_refuses_never_open(port_spec_checker, pname):
    """Names built to hit the kernel's rules: whatever the Python parser refuses fails to open,
    and whatever it accepts decodes the same as in C."""
    rng = random.Random(20261123)
    parts = ["a", "Z9", "_", ".", "..", " ", "\t", "\x7f", "\u00e9", "x" * 9, "vale", ":", "-"]
    specs = []
    for _ in range(300):
        name = "".join(rng.choices(parts, k=rng.randint(1, 4)))
        tail = rng.choice(
            ["", f"{{{rng.randint(0, 99)}", "^", "*", "/x", f"}}{rng.randint(0, 9)}/t"]
        )
        specs.append(rng.choice(["netmap:", "", "vale0:", "vale:"]) + name + tail)
    refused = 0
    for spec, (outcome, err, fields) in zip(
        specs, nm_open_all(port_spec_checker, specs), strict=True
    ):
        try:
            p = parse_port(spec)
        except UsageError:
            refused += 1
            assert outcome == "err" or err != 0, spec
            continue
        assert outcome == "ok" and fields == decoded(p), (spec, fields)
    assert refused >= 50, refused
