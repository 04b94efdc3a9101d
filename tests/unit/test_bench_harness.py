"""The benchmark machinery: medians, ratios, the JSON shape, plans and the tools' reports.

The in-guest executor runs for real here, on the host, with a stand-in traffic tool (a script
that prints a pkt-gen-style --json report): what is under test is the executor and the parsing.
"""

import json
import re
import stat
import subprocess
import sys
import textwrap
from dataclasses import asdict
from pathlib import Path

import pytest

from ptnet.bench import harness, traffic, traffic_guest
from ptnet.bench import passthrough as passthrough_bench
from ptnet.bench import pipe as pipe_bench
from ptnet.errors import PtnetError


def _report(role: str, pps: float, packets: int = 1000) -> str:
    return json.dumps(
        {"role": role, "packets": packets, "bytes": packets * 60, "seconds": 1.5, "pps": pps,
         "bps": pps * 480, "errors": 0, "lost": 0}
    )  # fmt: skip


def _run(rx_pps: float | None, tx_pps: float) -> dict:
    run = {"tx": _report("tx", tx_pps) + "\n", "tx_rc": 0}
    if rx_pps is not None:
        run |= {"rx": _report("rx", rx_pps) + "\n", "rx_rc": 0, "rx_err": "Speed: 1 Mpps\n"}
    return run


def _plan() -> traffic.Plan:
    return traffic.Plan(
        bench="t",
        scenarios=[
            traffic.Scenario("fast", ["tx"], ["rx"]),
            traffic.Scenario("slow", ["tx"], ["rx"]),
            traffic.Scenario("slow_tx", ["tx"], None, measured="tx"),
        ],
        ratios={"fast/slow": ("fast", "slow"), "fast/slow_tx": ("fast", "slow_tx")},
    )


def test_scenario_median_odd_and_even():
    assert harness.Scenario("mpps", [3.0, 1.0, 2.0]).median == 2.0
    assert harness.Scenario("mpps", [4.0, 1.0, 2.0, 3.0]).median == 2.5


def test_result_shape_medians_and_ratios():
    raw = {
        "env": {"guest_cpus": 2},
        "fast": [_run(2e6, 2.1e6), _run(4e6, 4.2e6), _run(3e6, 3.1e6)],
        "slow": [_run(1e5, 1.1e5)] * 3,
        "slow_tx": [_run(None, 2e5)] * 3,
    }
    out = traffic.result(_plan(), raw, {"kernel": "k"})
    assert out["bench"] == "t"
    assert out["scenarios"]["fast"] == {
        "mpps": 3.0, "runs": [2.0, 4.0, 3.0], "measured": "rx", "tx_mpps": [2.1, 4.2, 3.1]
    }  # fmt: skip
    assert out["scenarios"]["slow_tx"]["measured"] == "tx"
    assert out["scenarios"]["slow_tx"]["mpps"] == 0.2
    assert out["ratios"] == {"fast/slow": 30.0, "fast/slow_tx": 15.0}
    assert out["env"]["kernel"] == "k" and out["env"]["guest_cpus"] == 2
    json.dumps(out)


def test_a_scenario_without_runs_fails():
    with pytest.raises(PtnetError, match="no runs of scenario slow"):
        traffic.result(_plan(), {"fast": [_run(1e6, 1e6)], "slow": []}, {})


def test_tool_report_takes_the_last_json_line():
    assert traffic.tool_report('{"a": 1}\nnoise\n{"role": "rx"}\n') == {"role": "rx"}
    with pytest.raises(PtnetError, match="no --json report"):
        traffic.tool_report("Speed: 1 Mpps\n")


def test_a_side_without_packets_or_with_the_wrong_role_fails():
    with pytest.raises(PtnetError, match="rx side moved no packets"):
        traffic.run_mpps({"rx": _report("rx", 0, packets=0)}, "rx")
    with pytest.raises(PtnetError, match="expected the rx report"):
        traffic.run_mpps({"rx": _report("tx", 5)}, "rx")
    with pytest.raises(PtnetError, match="timed out"):
        traffic.run_mpps({"error": "timed out: x"}, "rx")


def test_gen_pair_arguments():
    tx, rx = traffic.gen_pair(Path("/t/pkt-gen"), "netmap:a{1", "netmap:a}1", 3.0)
    assert tx[:7] == ["/t/pkt-gen", "-i", "netmap:a{1", "-f", "tx", "-l", "60"]
    assert tx[tx.index("--timeout") + 1] == "3" and tx[tx.index("-a") + 1] == "0"
    assert rx is not None and rx[:5] == ["/t/pkt-gen", "-i", "netmap:a}1", "-f", "rx"]
    assert rx[rx.index("--idle") + 1] == "1" and rx[rx.index("-a") + 1] == "1"
    assert tx[-1] == rx[-1] == "--json"
    assert traffic.gen_pair(Path("/t/x"), "eth0", None, 1.0)[1] is None


def test_pipe_plan_round_trips_through_json():
    pytest.importorskip("ptnet.build.tools")
    try:
        plan = pipe_bench.plan(3, 2.0)
    except PtnetError:
        pytest.skip("tools not built")
    again = traffic.plan_from_json(json.loads(json.dumps(asdict(plan))))
    assert again == plan
    assert [s.name for s in plan.scenarios] == [
        "pipe_poll", "pipe_busy", "limit", "afpacket", "afpacket_sendonly"
    ]  # fmt: skip
    assert "pipe_poll/limit" in plan.ratios and "pipe_busy/afpacket" in plan.ratios


def test_the_guest_executor_runs_a_plan(tmp_path):
    tool = tmp_path / "fake-gen"
    tool.write_text(
        textwrap.dedent(
            """\
            #!/bin/sh
            role=tx; [ "$1" = rx ] && role=rx
            echo "progress on stderr" >&2
            echo '{"role": "'$role'", "packets": 10, "pps": 5000000}'
            """
        )
    )
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    plan = traffic.Plan(
        bench="t",
        setup=[["true"]],
        scenarios=[
            traffic.Scenario("pair", [str(tool), "tx"], [str(tool), "rx"]),
            traffic.Scenario("alone", [str(tool), "tx"], None, measured="tx"),
        ],
        ratios={"pair/alone": ("pair", "alone")},
        runs=2,
        seconds=1,
    )
    (tmp_path / "plan.json").write_text(json.dumps(asdict(plan)))
    proc = subprocess.run(
        [sys.executable, "-m", "ptnet.bench.traffic_guest", "plan.json", "raw.json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "pair run 2/2: mpps=5.0000" in proc.stderr
    order = re.findall(r"(\w+) run (\d)/2", proc.stderr)
    assert order == [("pair", "1"), ("alone", "1"), ("pair", "2"), ("alone", "2")]  # interleaved
    raw = json.loads((tmp_path / "raw.json").read_text())
    out = traffic.result(plan, raw, {})
    assert out["scenarios"]["pair"]["runs"] == [5.0, 5.0]
    assert out["ratios"] == {"pair/alone": 1.0}


def test_a_failing_setup_step_stops_the_guest(tmp_path):
    plan = traffic.Plan(bench="t", setup=[["false"]], scenarios=[], ratios={})
    (tmp_path / "plan.json").write_text(json.dumps(asdict(plan)))
    proc = subprocess.run(
        [sys.executable, "-m", "ptnet.bench.traffic_guest", "plan.json", "raw.json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "setup step false failed" in proc.stderr


@pytest.mark.parametrize("bench", ["pipe", "vale", "kloop", "passthrough"])
def test_traffic_bench_commands_are_registered(run_ptnet, bench: str):
    proc = run_ptnet("bench", bench, "--help")
    assert proc.returncode == 0 and "--runs" in proc.stdout
    bad = run_ptnet("bench", bench, "--runs", "2")
    assert bad.returncode == 2 and "--runs" in bad.stderr


@pytest.mark.parametrize(
    ("bench", "scenarios", "ratios"),
    [
        ("kloop", ["kloop", "kloop_sleep", "ioctl"], {"kloop/ioctl", "kloop_sleep/ioctl"}),
    ],
)
def test_kloop_plan(bench: str, scenarios: list[str], ratios: set[str]):
    import importlib

    try:
        plan = importlib.import_module(f"ptnet.bench.{bench}").plan(3, 2.0)
    except PtnetError:
        pytest.skip("tools not built")
    assert [s.name for s in plan.scenarios] == scenarios
    assert set(plan.ratios) == ratios
    assert all(s.rx is not None for s in plan.scenarios)  # every figure is delivered packets


def test_a_nested_receivers_argv_reaches_the_shell_with_its_interface_expanded():
    line = traffic_guest._sh_argv(["pkt-gen", "-i", "netmap:$IF", "--name", "a b;c"])
    out = subprocess.run(
        ["sh", "-c", f"IF=eth7; printf '%s|' {line}"], capture_output=True, text=True, check=True
    )
    assert out.stdout == "pkt-gen|-i|netmap:eth7|--name|a b;c|"


def test_passthrough_plan_puts_the_receivers_in_nested_guests():
    try:
        plan = passthrough_bench.plan(3, 2.0)
    except PtnetError:
        pytest.skip("tools or QEMU not built")
    assert traffic.plan_from_json(json.loads(json.dumps(asdict(plan)))) == plan
    assert [s.name for s in plan.scenarios] == ["ptnet", "virtio"]
    assert plan.ratios == {"ptnet/virtio": ("ptnet", "virtio")}
    ptnet, virtio = plan.scenarios
    assert "ptnet-pci,netdev=n0" in ptnet.nested_nic
    assert "virtio-net-pci,netdev=n0" in virtio.nested_nic
    assert ptnet.rx == virtio.rx and ptnet.rx is not None and ptnet.rx[0] == "pkt-gen"
    assert ["ip", "tuntap", "add", "dev", "ptt0", "mode", "tap"] in plan.setup
