"""`ptnet chain` as a user runs it: bad input is one line and exit code 2 (never a traceback),
`schema` prints JSON that validates a sample file, `graph` prints the graph, and
`create --dry-run` prints the plan and starts nothing."""

import json
import shlex
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

SAMPLE = """\
name: demo
nfs:
  - {role: fw, image: default}
  - {role: ids, trust: untrusted, image: default, config: {mode: ips}}
  - {role: nat, image: default, backend: libvirt}
"""


@pytest.fixture
def env(tmp_path):
    return {"PTNET_STATE_DIR": str(tmp_path / "state"), "PTNET_RUNTIME_DIR": str(tmp_path / "r")}


def one_line_error(proc, code=2) -> str:
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ptnet: error: "), proc.stderr
    return lines[0].removeprefix("ptnet: error: ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["graph", "fw,ids:foo,nat"], "nfs[1].trust: expected trusted or untrusted"),
        (["graph", "fw,,nat"], "nfs[1].role: empty item 2 in 'fw,,nat'; expected ROLE[:untrusted]"),
        (["graph", "fw,ids", "--format", "png"], "'png' is not one of 'mermaid', 'dot', 'svg'"),
        (["graph"], "give the roles (fw,ids,nat) or -f FILE"),
        (["create", "fw", "-f", "x.yml", "--dry-run"], "give the roles (fw) or -f FILE, not both"),
        (["create", "fw", "--dry-run", "--name", "Fw"], "name: bad chain name 'Fw'"),
        (["create", "fw", "--dry-run", "--ingress", "eth1"], "ingress: expected host or netmap:"),
        (["create", "fw", "--dry-run", "--backend", "xen"], "'xen' is not one of"),
        (["create", "fw,ids,nat,fw,ids", "--dry-run"], "holds at most 5 pipes"),
        (["create", "-f", "/nonexistent.yml", "--dry-run"], "/nonexistent.yml: cannot read"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(run_ptnet, env, args, message):
    assert message in one_line_error(run_ptnet("chain", *args, env=env))


def test_a_bad_file_names_its_line_and_field(run_ptnet, env, tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("nfs:\n  - role: fw\n  - role: nat\n    trust: maybe\n")
    line = one_line_error(run_ptnet("chain", "graph", "-f", str(path), env=env))
    assert line == "nfs[1].trust: expected trusted or untrusted"
    path.write_text("nfs: [\n")
    line = one_line_error(run_ptnet("chain", "create", "-f", str(path), "--dry-run", env=env))
    assert line == f"{path}:2:1: expected the node content, but found '<stream end>'"


def test_schema_is_json_that_validates_a_sample_file(run_ptnet, env):
    proc = run_ptnet("chain", "schema", env=env)
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(SAMPLE), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"nfs": [{"role": "fw", "colour": "red"}]}, schema)


@pytest.mark.parametrize(("fmt", "start"), [("mermaid", "flowchart LR\n"), ("dot", "digraph ")])
def test_graph_of_the_shorthand(run_ptnet, env, fmt, start):
    proc = run_ptnet("chain", "graph", "fw,ids:untrusted,nat", "--format", fmt, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(start) and "VALE" in proc.stdout and "pipe" in proc.stdout


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs graphviz (apt-get install graphviz)")
def test_graph_as_svg(run_ptnet, env, tmp_path):
    path = tmp_path / "c.yml"
    path.write_text(SAMPLE)
    proc = run_ptnet("chain", "graph", "-f", str(path), "--format", "svg", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "<svg" in proc.stdout and ">untrusted</text>" in proc.stdout


@pytest.mark.skipif(
    shutil.which("qemu-system-x86_64") is None, reason="needs qemu-system-x86 to resolve a VM"
)
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_create_dry_run_prints_the_plan_and_starts_nothing(run_ptnet, env, tmp_path, fmt):
    path = tmp_path / "c.yml"
    path.write_text(SAMPLE)
    proc = run_ptnet("chain", "create", "-f", str(path), "--dry-run", "--format", fmt, env=env)
    assert proc.returncode == 0, proc.stderr
    if fmt == "json":
        plan = json.loads(proc.stdout)
        assert [h["kind"] for h in plan["hops"]] == ["pipe", "vale", "vale", "pipe"]
        fw, _, nat = plan["nfs"]
        argv = fw["vm_render"]["qemu_argv"]
        assert "netmap,id=port0,ifname=netmap:demo}0,passthrough=on" in argv
        assert nat["vm_render"]["domain_xml"].startswith("<domain type=")
    else:
        assert proc.stdout.startswith("chain demo: 3 NFs, 4 hops (2 pipe, 2 VALE)\n")
        qemu = next(line for line in proc.stdout.splitlines() if "qemu: " in line)
        assert shlex.split(qemu.split("qemu: ", 1)[1])[-1] == "-daemonize"
    assert not Path(env["PTNET_STATE_DIR"]).exists()
    assert not Path(env["PTNET_RUNTIME_DIR"]).exists()
