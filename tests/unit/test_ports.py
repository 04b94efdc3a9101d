"""Port specs: parsing, canonical text and the `ptnet port check` CLI. Agreement with the C parser
is in tests/integration/test_port_spec_c.py."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from port_fuzz import TOKENS, check_one, fuzz_specs

from ptnet.errors import UsageError
from ptnet.model.ports import PortConf, PortSpec, parse_port


def rejected(spec: str) -> str:
    with pytest.raises(UsageError) as exc:
        parse_port(spec)
    return str(exc.value)


# --------------------------------------------------------------------------------------------
# Accepted specs: the decoded fields and the canonical text
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "canonical", "fields"),
    [
        ("vale1:10", "vale1:10", {"kind": "vale", "switch": "vale1", "port": "10"}),
        ("netmap:vale1:10", "vale1:10", {"kind": "vale", "nr_name": "vale1:10"}),
        ("vale:x", "vale:x", {"kind": "vale", "switch": "vale", "port": "x"}),
        ("vale:x{3", "vale:x{3", {"kind": "pipe", "switch": "vale", "pipe_id": "3"}),
        ("vale0:0{0", "vale0:0{0", {"kind": "pipe", "pipe_end": "master", "pipe_id": "0"}),
        ("netmap:pipe{1}2", "netmap:pipe{1}2", {"interface": "pipe", "pipe_id": "1}2"}),
        ("p}id.x/x", "netmap:p}id.x/x", {"pipe_end": "slave", "pipe_id": "id.x"}),
        ("vale0:a{b:c}-1", "vale0:a{b:c}-1", {"port": "a", "pipe_id": "b:c}", "ring": 1}),
        ("p{01", "netmap:p{01", {"pipe_id": "01", "nr_name": "p{01"}),  # ids are text
        ("pipeA}1", "netmap:pipeA}1", {"kind": "pipe", "interface": "pipeA", "nr_name": "pipeA}1"}),
        ("netmap:eth0", "netmap:eth0", {"kind": "nic", "interface": "eth0", "rings": "all-nic"}),
        ("eth0", "netmap:eth0", {"kind": "nic", "nr_name": "eth0", "switch": None}),
        ("netmap:eth0^", "netmap:eth0^", {"rings": "sw", "nr_mode": 2, "ring": None}),
        ("netmap:eth0^3", "netmap:eth0^3", {"rings": "one-sw", "nr_mode": 8, "nr_ringid": 3}),
        ("netmap:eth0*", "netmap:eth0*", {"rings": "nic-sw", "nr_mode": 3}),
        (
            "netmap:eth0-2/T",
            "netmap:eth0-2/T",
            {"rings": "one-nic", "ring": 2, "flags": ["tx-only"]},
        ),
        ("netmap:eth0-0004", "netmap:eth0-4", {"ring": 4}),
        ("netmap:eth0-4095", "netmap:eth0-4095", {"ring": 4095}),
        ("netmap:eth0/x", "netmap:eth0/x", {"flags": ["exclusive"], "nr_flags": 0x800}),
        ("netmap:eth0/Txx", "netmap:eth0/xT", {"nr_flags": 0x4800}),
        ("netmap:eth0/rt", "netmap:eth0/tr", {"flags": ["tx-monitor", "rx-monitor"]}),
        ("netmap:eth0/z/R", "netmap:eth0/zR", {"nr_flags": 0x2400}),
        ("netmap:eth0/@2", "netmap:eth0@2", {"flags": [], "mem_id": 2}),  # "/" then nothing
        ("netmap:eth0//x", "netmap:eth0/x", {"flags": ["exclusive"]}),
        ("netmap:eth0@1@65535", "netmap:eth0@65535", {"mem_id": 65535}),  # the last one wins
        ("pipeA{1-0/x@3", "netmap:pipeA{1-0/x@3", {"rings": "one-nic", "ring": 0, "mem_id": 3}),
        (
            "vale0:1@conf:rings=2,slots=1024",
            "vale0:1@conf:rings=2,slots=1024",
            {"conf": {"tx_rings": 2, "rx_rings": 2, "tx_slots": 1024, "rx_slots": 1024}},
        ),
        (
            "netmap:e@conf:tx-rings=3@conf:rx-rings=3,host-tx-rings=1,rx-slots=4294967295",
            "netmap:e@conf:rings=3,host-tx-rings=1,rx-slots=4294967295",
            {"conf": {"tx_rings": 3, "rx_rings": 3, "host_tx_rings": 1, "rx_slots": 0xFFFFFFFF}},
        ),
        ("netmap:e@conf:rings=0", "netmap:e", {"conf": {}}),  # 0 is the default
        ("netmap:e@conf:slots=9/x", "netmap:e/x@conf:slots=9", {"flags": ["exclusive"]}),
        ("val0:x", "val0:x", {"kind": "vale", "switch": "val0", "port": "x"}),
        ("netmap:valid:x{2", "valid:x{2", {"kind": "pipe", "switch": "valid", "port": "x"}),
        ("netmap:a.b", "netmap:a.b", {"kind": "nic", "interface": "a.b"}),
        ("netmap:abcdefghijklmno", "netmap:abcdefghijklmno", {"nr_name": "abcdefghijklmno"}),
        ("vale_2345678:_2", "vale_2345678:_2", {"switch": "vale_2345678", "port": "_2"}),
        ("p{4294967296", "netmap:p{4294967296", {"pipe_id": "4294967296"}),
    ],
)
def test_accepted_specs_decode_and_print_canonically(spec, canonical, fields):
    p = parse_port(spec)
    assert str(p) == canonical
    assert parse_port(canonical) == p
    assert p.ifname == canonical
    d = p.to_dict()
    for k, v in fields.items():
        assert d[k] == v, k


def test_the_model_is_a_frozen_value():
    p = parse_port("vale1:10/x")
    assert p == PortSpec("vale", "vale1:10", flags=frozenset({"exclusive"}))
    assert hash(p) == hash(parse_port("netmap:vale1:10/xx"))
    with pytest.raises(AttributeError):
        p.name = "vale1:11"  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# Rejected specs: one line that names the bad part and where it is
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("", ["empty spec"]),
        ("netmap:", ["empty port name", "offset 7"]),
        ("@conf:rings=1", ["empty port name"]),
        ("x{", ["pipe id after '{' is empty", "the end", "offset 2"]),
        ("x}^", ["pipe id after '}' is empty", "'^'", "offset 2"]),
        ("x{1{2", ["'{' in the pipe id after '{'", "parent a pipe end", "offset 3"]),
        ("netmap:pipe}1}2", ["'}' in the pipe id after '}'", "offset 13"]),
        ("netmap:pipe}1{2", ["'{' in the pipe id after '}'", "offset 13"]),
        ("pipe{1^", ["a pipe end has no host rings"]),
        ("pipe{1*", ["a pipe end has no host rings"]),
        ("netmap:eth0/q", ["unknown flag 'q'", "offset 12"]),
        ("netmap:eth0/", ["no flags after '/'", "offset 11"]),
        ("netmap:eth0/RT", ["both R", "T"]),
        ("netmap:eth0/R/T", ["both R", "T"]),
        ("netmap:eth0-", ["ring after '-'", "the end"]),
        ("netmap:eth0-4096", ["4096 is over 4095", "offset 12"]),
        ("netmap:eth0^4096", ["host ring after '^'", "4096 is over 4095"]),
        ("netmap:eth0^*", ["unexpected '*'", "offset 12"]),
        ("netmap:eth0@0", ["memory id 0"]),
        ("netmap:eth0@65536", ["65536 is over 65535"]),
        ("netmap:eth0@foo", ["unsupported option after '@'", "offset 11"]),
        ("netmap:eth0@conf:", ["no @conf: key"]),
        ("netmap:eth0@conf:ring=1", ["unknown @conf: key 'ring'"]),
        ("netmap:eth0@conf:rings=1,", ["no @conf: key", "offset 25"]),
        ("netmap:eth0@conf:rings=65536", ["rings 65536 is over 65535"]),
        ("netmap:eth0@conf:slots=4294967296", ["slots 4294967296 is over 4294967295"]),
        ("netmap:eth0@conf:rings=1x", ["unexpected 'x' after @conf:"]),
        ("eth0:1", ["unknown prefix 'eth0:'", "offset 0"]),
        ("netmap:netmap:eth0", ["unknown prefix 'netmap:'", "offset 7"]),
        ("vale0-:1", ["VALE switch name", "'-'", "offset 5"]),
        ("valeA{1", ["starts with 'val' is a VALE name", "'{'", "offset 5"]),
        ("netmap:vale", ["starts with 'val' is a VALE name", "the end"]),
        ("netmap:valid0", ["starts with 'val' is a VALE name", "the end"]),
        ("vale0:", ["VALE port name", "nothing"]),
        ("vale0:a-b", ["the ring after '-' must be a number, got 'b'"]),
        ("vale0{1@conf:rings=1", ["VALE switch name", "'{'"]),  # as nm_spec_parse does
        ("vale0:1^", ["host rings", "only on NIC ports"]),
        ("vale0:1*", ["host rings", "only on NIC ports"]),
        ("vale0:1^0", ["host rings", "only on NIC ports"]),
        ("vale0123456789:1", ["'vale0123456789:1' is 16 bytes", "IFNAMSIZ"]),
        ("netmap:abcdefghijklmnop", ["is 16 bytes", "IFNAMSIZ"]),
        ("abcdefghijk{1234", ["'abcdefghijk{1234' is 16 bytes"]),
        ("netmap:.", ["'.' is not an interface name"]),
        ("netmap:..{1", ["'..' is not an interface name"]),
        ("netmap:a b", ["cannot hold ' '", "offset 8"]),
        ("netmap:a\tb", ["cannot hold '\\t'"]),
        ("netmap:\u00e9", ["cannot hold '\\xe9'"]),
        ("netmap:a\x7f", ["cannot hold '\\x7f'"]),
        ("a\0b", ["NUL"]),
    ],
)
def test_rejected_specs_name_the_bad_part(spec, words):
    message = rejected(spec)
    assert "\n" not in message
    assert message.startswith("bad port spec '")
    for w in words:
        assert w in message


def test_huge_numbers_and_specs_give_short_messages():
    message = rejected("x{" + "1" * 5000)
    assert "is 5002 bytes, over 15 (IFNAMSIZ)" in message
    assert len(message) < 250
    assert parse_port("netmap:e-" + "0" * 5000 + "12").ring == 12
    assert len(rejected("netmap:" + "a" * 10000)) < 250


def test_a_message_quotes_the_spec_on_one_line():
    message = rejected("a\nb/q")
    assert message.startswith("bad port spec 'a\\nb/q': ")
    assert "\n" not in message


# --------------------------------------------------------------------------------------------
# Properties: nothing crashes the parser; what it accepts round-trips
# --------------------------------------------------------------------------------------------


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=10).map("".join))
def test_token_soup_never_crashes_the_parser(spec):
    check_one(spec)


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=40))
def test_any_text_never_crashes_the_parser(spec):
    check_one(spec)


word = st.text("abcXYZ019_", min_size=1, max_size=4)


@st.composite
def valid_specs(draw) -> str:
    """Specs built from the grammar, all of which must be accepted."""
    kind = draw(st.sampled_from(["vale", "nic", "pipe"]))
    if kind == "nic" or (kind == "pipe" and draw(st.booleans())):
        text = (
            draw(st.sampled_from(["netmap:", ""])) + draw(word) + draw(st.sampled_from(["", "."]))
        )
    else:
        text = "vale" + draw(st.text("ab09_", max_size=2)) + ":" + draw(word)
    if kind == "pipe":
        brace = draw(st.sampled_from("{}"))
        text += brace + draw(
            st.text("ab09_.:" + ("}" if brace == "{" else ""), min_size=1, max_size=3)
        )
        rings = draw(st.sampled_from(["", "-"]))
    else:
        rings = draw(st.sampled_from(["", "-", "^", "^N", "*"] if kind == "nic" else ["", "-"]))
    text += {"-": f"-{draw(st.integers(0, 4095))}", "^N": f"^{draw(st.integers(0, 4095))}"}.get(
        rings, rings
    )
    for _ in range(draw(st.integers(0, 3))):
        item = draw(st.sampled_from(["flags", "mem", "conf"]))
        if item == "flags":
            text += "/" + draw(st.text("xztr", min_size=1, max_size=3))
        elif item == "mem":
            text += f"@{draw(st.integers(1, 65535))}"
        else:
            keys = draw(
                st.lists(
                    st.sampled_from(["rings", "tx-rings", "host-rx-rings", "slots"]),
                    min_size=1,
                    max_size=3,
                )
            )
            text += "@conf:" + ",".join(f"{k}={draw(st.integers(0, 65535))}" for k in keys)
    return text + draw(st.sampled_from(["", "/R", "/T"]))


@settings(max_examples=1000, deadline=None)
@given(valid_specs())
def test_specs_built_from_the_grammar_are_accepted_and_round_trip(spec):
    p = check_one(spec)
    assert p is not None, rejected(spec)


def test_ten_thousand_seeded_random_specs_round_trip_or_fail_cleanly():
    outcomes = [check_one(s) is not None for s in fuzz_specs(10000, seed=1)]
    assert len(outcomes) == 10000
    assert 500 <= sum(outcomes) <= 9500  # both outcomes are well exercised


# --------------------------------------------------------------------------------------------
# `ptnet port check`
# --------------------------------------------------------------------------------------------


def test_port_check_prints_canonical_forms_and_fields(run_ptnet):
    proc = run_ptnet("port", "check", "netmap:vale1:10", "eth0-2/T", "pipeA}1@conf:slots=8")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == [
        "SPEC",
        "KIND",
        "NR_NAME",
        "PIPE",
        "RINGS",
        "FLAGS",
        "MEM_ID",
        "CONF",
    ]
    assert lines[1].split() == ["vale1:10", "vale", "vale1:10", "all-nic"]
    assert lines[2].split() == ["netmap:eth0-2/T", "nic", "eth0", "one-nic", "2", "tx-only"]
    assert lines[3].split() == [
        "netmap:pipeA}1@conf:slots=8", "pipe", "pipeA}1", "slave", "1", "all-nic",
        "tx_slots=8,rx_slots=8",
    ]  # fmt: skip


def test_port_check_json(run_ptnet):
    proc = run_ptnet("port", "check", "--format", "json", "vale:x{3", "netmap:eth0^1/x@2")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert rows[0] == {
        "input": "vale:x{3", "spec": "vale:x{3", "kind": "pipe", "nr_name": "vale:x{3",
        "switch": "vale", "port": "x", "interface": None, "pipe_end": "master", "pipe_id": "3",
        "rings": "all-nic", "ring": None, "flags": [], "mem_id": None, "conf": {},
        "nr_mode": 1, "nr_ringid": 0, "nr_flags": 0,
    }  # fmt: skip
    assert (rows[1]["spec"], rows[1]["rings"], rows[1]["ring"]) == (
        "netmap:eth0^1/x@2",
        "one-sw",
        1,
    )
    assert (rows[1]["nr_mode"], rows[1]["nr_flags"], rows[1]["mem_id"]) == (8, 0x800, 2)


def one_line_error(proc) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ptnet: error: "), proc.stderr
    return lines[0]


def test_port_check_bad_spec_exits_2_naming_the_bad_part(run_ptnet):
    line = one_line_error(run_ptnet("port", "check", "vale1:10", "netmap:eth0/q"))
    assert line == (
        "ptnet: error: bad port spec 'netmap:eth0/q': unknown flag 'q' (x z t r R T) (at offset 12)"
    )
    line = one_line_error(run_ptnet("port", "check", "netmap:pipe}1{2"))
    assert "would make the parent a pipe end" in line


def test_port_check_mode(run_ptnet):
    assert run_ptnet("port", "check", "--mode", "passthrough", "vale1:10").returncode == 0
    line = one_line_error(run_ptnet("port", "check", "--mode", "passthrough", "netmap:eth0^"))
    assert "'netmap:eth0^' cannot be a VM's passthrough NIC" in line and "host rings" in line
    line = one_line_error(run_ptnet("port", "check", "--mode", "bogus", "vale1:10"))
    assert "bogus" in line


def test_port_check_needs_a_spec(run_ptnet):
    assert "Missing argument" in one_line_error(run_ptnet("port", "check"))


def test_port_conf_prints_shortest_form():
    assert str(PortConf()) == ""
    assert str(PortConf(tx_rings=2, rx_rings=2, host_rx_rings=1, tx_slots=5)) == (
        "rings=2,host-rx-rings=1,tx-slots=5"
    )
