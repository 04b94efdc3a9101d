"""The chain model: the shorthand, the YAML file, the JSON Schema, and one line per bad input
naming its field path. A property test: no text and no data makes the parser raise anything
but UsageError."""

import json
import string

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ptnet.errors import UsageError
from ptnet.model.chain import (
    ChainSpec,
    End,
    NfSpec,
    Trust,
    default_name,
    from_data,
    json_schema,
    load_file,
    parse_shorthand,
    parse_text,
)
from ptnet.model.vm import BackendName

FILE = """\
name: edge
ingress: netmap:eth1
egress: host
nfs:
  - role: fw
    config: {rules: /etc/ptnet/fw.rules}
  - {role: ids, trust: untrusted, mem: 1G, cpus: 2, config: {mode: ips}}
  - name: filter
    role: nft
    image: nft
    backend: libvirt
    command: "nft-start {in} {out}"
"""


def test_shorthand_gives_builtin_roles_in_order():
    spec = parse_shorthand("fw,ids,nat")
    assert spec == ChainSpec(
        "fw-ids-nat",
        (
            NfSpec("fw", "fw", image="fw"),
            NfSpec("ids", "ids", image="ids"),
            NfSpec("nat", "nat", image="nat"),
        ),
    )
    assert spec.vm_name(spec.nfs[1]) == "fw-ids-nat-ids"


def test_shorthand_trust_name_ends_and_backend():
    spec = parse_shorthand(
        "fw, ids:untrusted ,nat:trusted",
        "edge",
        ingress="netmap:eth1",
        egress="netmap:eth2",
        backend="libvirt",
    )
    assert spec.name == "edge"
    assert [nf.trust for nf in spec.nfs] == [Trust.trusted, Trust.untrusted, Trust.trusted]
    assert spec.ingress == End("nic", "eth1") and str(spec.egress) == "netmap:eth2"
    assert {nf.backend for nf in spec.nfs} == {BackendName.libvirt}


def test_repeated_roles_are_numbered():
    assert [nf.name for nf in parse_shorthand("fw,nat,fw").nfs] == ["fw1", "nat", "fw2"]


def test_default_name_is_the_roles_or_a_hash_when_too_long():
    assert default_name(["fw", "ids", "nat"]) == "fw-ids-nat"
    long = default_name(["fw", "ids", "nat", "fw"])
    assert long.startswith("chain-") and len(long) == 12
    assert parse_shorthand("fw,ids,nat,fw").name == long


def test_file_gives_every_field(tmp_path):
    path = tmp_path / "chain.yml"
    path.write_text(FILE)
    spec = load_file(path)
    assert spec.name == "edge" and spec.ingress == End("nic", "eth1") and spec.egress == End()
    fw, ids, nft = spec.nfs
    assert fw == NfSpec("fw", "fw", image="fw", config={"rules": "/etc/ptnet/fw.rules"})
    assert (ids.trust, ids.mem_mb, ids.cpus, ids.config) == ("untrusted", 1024, 2, {"mode": "ips"})
    assert (nft.name, nft.backend, nft.command) == ("filter", "libvirt", "nft-start {in} {out}")
    assert load_file(path, name="other").name == "other"


@pytest.mark.parametrize(
    "spec",
    [parse_shorthand("fw,ids:untrusted,nat,fw", ingress="netmap:eth1"), parse_text(FILE)],
    ids=["shorthand", "file"],
)
def test_to_dict_is_a_file_that_gives_the_spec_back(spec):
    assert from_data(spec.to_dict()) == spec
    jsonschema.validate(spec.to_dict(), json_schema())


def test_schema_validates_the_sample_file_and_refuses_a_bad_one():
    import yaml

    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(FILE), schema)
    bad = yaml.safe_load(FILE)
    bad["nfs"][1]["trust"] = "maybe"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    json.dumps(schema)


BAD_SHORTHANDS = [
    ("fw,ids:foo,nat", "nfs[1].trust: expected trusted or untrusted"),
    ("fw,,nat", "nfs[1].role: empty item 2 in 'fw,,nat'; expected ROLE[:untrusted]"),
    ("", "nfs[0].role: empty item 1 in ''; expected ROLE[:untrusted]"),
    (
        "fw,foo",
        "nfs[1].role: unknown role 'foo'; built-in roles are fw, nat, ids, "
        "or give a command for a custom role",
    ),
    (
        "fw,Nat",
        "nfs[1].role: bad role 'Nat': a lowercase letter, then up to 30 of a-z, 0-9 and '-'",
    ),
    ("fw," * 8 + "fw", "nfs: expected at most 8 item(s), got 9"),
]


@pytest.mark.parametrize(("text", "message"), BAD_SHORTHANDS)
def test_bad_shorthand_is_one_line_naming_the_field(text, message):
    with pytest.raises(UsageError) as exc:
        parse_shorthand(text)
    assert str(exc.value) == message


def test_bad_overrides_are_named():
    with pytest.raises(UsageError, match=r"^name: bad chain name 'Edge': a lowercase"):
        parse_shorthand("fw", "Edge")
    with pytest.raises(UsageError, match=r"^name: bad chain name 'a-very-long-name'"):
        parse_shorthand("fw", "a-very-long-name")
    with pytest.raises(
        UsageError, match=r"^name: bad chain name 'vale1': names that start with 'val' are VALE"
    ):
        parse_shorthand("fw", "vale1")
    with pytest.raises(UsageError, match=r"^nfs\[0\]\.backend: expected qemu or libvirt$"):
        parse_shorthand("fw", backend="xen")
    with pytest.raises(UsageError, match=r"^ingress: expected host or netmap:IFNAME, got 'eth1'$"):
        parse_shorthand("fw", ingress="eth1")


BAD_FILES = [
    ("nfs: [{role: fw, trust: 5}]", "nfs[0].trust: expected trusted or untrusted"),
    ("nfs: [{role: fw}, {role: nat, trust: maybe}]", "nfs[1].trust: expected trusted or untrusted"),
    ("nfs:\n  - role: fw\n    colour: red\n", "nfs[0].colour: unknown key"),
    ("nfs: [{role: fw}]\ncolour: red\n", "colour: unknown key"),
    ("name: x\n", "nfs: required"),
    ("nfs: [{trust: untrusted}]", "nfs[0].role: required"),
    ("nfs: []", "nfs: expected at least 1 item(s)"),
    ("nfs: 3", "nfs: expected a list"),
    ("nfs: [3]", "nfs[0]: expected a mapping"),
    ("nfs: [{role: fw, cpus: x}]", "nfs[0].cpus: expected an integer"),
    ("nfs: [{role: fw, cpus: true}]", "nfs[0].cpus: expected an integer"),
    ("nfs: [{role: fw, cpus: 0}]", "nfs[0].cpus: expected at least 1"),
    ("nfs: [{role: fw, cpus: 65}]", "nfs[0].cpus: expected at most 64"),
    (
        "nfs: [{role: fw, mem: 64M}]",
        "nfs[0].mem: expected a size of at least 128 MiB: MiB, or with an M or G suffix",
    ),
    (
        "nfs: [{role: fw, mem: [1]}]",
        "nfs[0].mem: expected a size: MiB, or with an M or G suffix (512M, 1G)",
    ),
    ("nfs: [{role: fw, backend: xen}]", "nfs[0].backend: expected qemu or libvirt"),
    ("nfs: [{role: fw, name: 5}]", "nfs[0].name: expected a string"),
    (
        "nfs: [{role: fw, name: Fw}]",
        "nfs[0].name: bad NF name 'Fw': a lowercase letter, then up to 14 of a-z, 0-9 and '-'",
    ),
    (
        "nfs: [{role: fw, name: x}, {role: nat, name: x}]",
        "nfs[1].name: duplicate NF name 'x' (also nfs[0])",
    ),
    (
        "nfs: [{role: fw, name: nat}, {role: nat}]",
        "nfs[1].name: duplicate NF name 'nat' (also nfs[0])",
    ),
    (
        "nfs: [{role: fw, name: egress}]",
        "nfs[0].name: egress names an end of the chain; choose another",
    ),
    (
        "nfs: [{role: nft}]",
        "nfs[0].role: unknown role 'nft'; built-in roles are fw, nat, ids, "
        "or give a command for a custom role",
    ),
    ("nfs: [{role: nft, command: ''}]", "nfs[0].command: expected a command, got only blanks"),
    (
        'nfs: [{role: nft, command: "run \'x"}]',
        "nfs[0].command: expected a command line: No closing quotation",
    ),
    (
        "nfs: [{role: fw, command: ls}]",
        "nfs[0].command: fw is a built-in role; a command is for custom roles",
    ),
    (
        "nfs: [{role: fw, image: Big}]",
        "nfs[0].image: bad image 'Big': a lowercase letter, then a-z, 0-9, '-' and '_'"
        " (images/NAME)",
    ),
    (
        "nfs: [{role: fw, config: {a: {b: 1}}}]",
        "nfs[0].config: option a: expected a string, number, boolean or a list of them",
    ),
    (
        "nfs: [{role: fw, config: {A: 1}}]",
        "nfs[0].config: bad option name 'A': lowercase letters, digits, '-', '_'",
    ),
    ("nfs: [{role: fw, config: 3}]", "nfs[0].config: expected a mapping of role options"),
    ("ingress: 3\nnfs: [{role: fw}]", "ingress: expected a string"),
    (
        "ingress: vale1:2\nnfs: [{role: fw}]",
        "ingress: expected host or netmap:IFNAME, got 'vale1:2'",
    ),
    (
        "egress: netmap:pipe{1\nnfs: [{role: fw}]",
        "egress: expected host or netmap:IFNAME (a NIC, with no suffix), got 'netmap:pipe{1'",
    ),
    (
        "ingress: netmap:eth1\negress: netmap:eth1\nnfs: [{role: fw}]",
        "egress: netmap:eth1 is already the ingress; a NIC can be one end only",
    ),
    ("nfs: [{role: fw}]\nnfs: []\n", "t.yml:2:1: key 'nfs' is given twice"),
    ("nfs: [\n", "t.yml:2:1: expected the node content, but found '<stream end>'"),
    (
        "nfs: [{role: fw}]\n  - x\n",
        "t.yml:2:3: expected <block end>, but found '<block sequence start>'",
    ),
    ("? [a]\n: 1\n", "t.yml:1:3: a key must be a plain value"),
    ("nfs: &a [*a]\n", "t.yml:1:6: found unconstructable recursive node"),
    ("x: " + "[" * 5000 + "]" * 5000, "t.yml: nested too deeply"),
    ("- a\n", "t.yml: expected a mapping with name, ingress, egress and nfs"),
    ("", "t.yml: expected a mapping with name, ingress, egress and nfs"),
    (
        "a: !!python/object:os.system x\n",
        "t.yml:1:4: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/object:os.system'",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES)
def test_bad_file_is_one_line_naming_the_field(text, message):
    with pytest.raises(UsageError) as exc:
        parse_text(text, "t.yml")
    assert str(exc.value) == message


def test_aliases_that_would_expand_to_millions_are_refused_as_they_stand():
    text = 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, 9):
        text += f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]\n"
    with pytest.raises(UsageError, match=r"^nfs\[0\]\.config: option x: expected a string"):
        parse_text(text + "nfs: [{role: fw, config: {x: *a8}}]\n")
    with pytest.raises(UsageError, match=r"^nfs: expected at most 8 item\(s\), got 9$"):
        parse_text(text + "nfs: *a8\n")


def test_unreadable_and_non_text_files_are_named(tmp_path):
    with pytest.raises(UsageError, match=r"/nope.yml: cannot read: No such file or directory$"):
        load_file(tmp_path / "nope.yml")
    path = tmp_path / "bin.yml"
    path.write_bytes(b"name: \xff\n")
    with pytest.raises(UsageError, match=r"bin.yml: not UTF-8 text \(byte 6\)$"):
        load_file(path)
    path.write_bytes(b"#" * (1 << 20) + b"\n")
    with pytest.raises(UsageError, match=r"bin.yml: over 1048576 bytes; not a chain file$"):
        load_file(path)


# -- no input crashes the parser ---------------------------------------------------------------

_yamlish = st.text(alphabet=string.printable + "{}[]:-,!&*?|>'\"#%@`é\u2028\x00", max_size=200)
_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
_keys = st.sampled_from(
    ["name", "nfs", "role", "trust", "image", "cpus", "mem", "backend", "command", "config",
     "ingress", "egress", "x", "hosts", "host", "vni", "mtu", "uri", "ssh", "address",
     "uplink", "nic", "vxlan", "local"]
)  # fmt: skip
_data = st.recursive(
    _leaf
    | st.sampled_from(
        [
            "fw",
            "ids",
            "nat",
            "untrusted",
            "host",
            "netmap:eth1",
            "1G",
            "local",
            "qemu+ssh://u@h/system",
            "eth0",
            "192.0.2.1",
            1450,
            16777215,
        ]
    ),  # fmt: skip
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(_keys | st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=20,
)


def _only_usage_errors(call, *args):
    try:
        call(*args)
    except UsageError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=300, deadline=None)
@given(_yamlish)
def test_no_text_crashes_the_file_parser(text):
    _only_usage_errors(parse_text, text)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_keys, _data, max_size=5) | _data)
def test_no_data_crashes_the_validation(data):
    _only_usage_errors(from_data, data)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.printable + "é", max_size=60))
def test_no_shorthand_crashes_its_parser(text):
    _only_usage_errors(parse_shorthand, text)
