"""The pure parts of the benchmarks: medians, ratios, the JSON shape, the tools' reports."""

import json
from pathlib import Path

import pytest

from ptnet.bench import harness
from ptnet.bench import pipe as pipe_bench
from ptnet.bench.pipe_guest import tx_rx_args
from ptnet.errors import PtnetError


def _report(role: str, pps: float, packets: int = 1000) -> str:
    return json.dumps(
        {
            "role": role,
            "packets": packets,
            "bytes": packets * 60,
            "seconds": 1.5,
            "pps": pps,
            "bps": pps * 480,
            "errors": 0,
            "lost": 0,
        }
    )


def _run(rx_pps: float, tx_pps: float | None = None) -> dict:
    """One run as the guest saves it: the tools' stdout (text report on stderr)."""
    return {
        "rx": _report("rx", rx_pps) + "\n",
        "tx": _report("tx", tx_pps if tx_pps is not None else rx_pps * 1.1) + "\n",
        "rx_rc": 0,
        "tx_rc": 0,
        "rx_err": "Received 1000 packets ...\nSpeed: 1 Mpps\n",
    }


def test_scenario_median_odd_and_even():
    assert harness.Scenario("mpps", [3.0, 1.0, 2.0]).median == 2.0
    assert harness.Scenario("mpps", [4.0, 1.0, 2.0, 3.0]).median == 2.5


def test_report_shape_and_ratio():
    s = {"a": harness.Scenario("mpps", [6.0, 6.6, 7.0]), "b": harness.Scenario("mpps", [0.2])}
    out = harness.report("x", s, {"a/b": ("a", "b")}, env={"k": 1})
    assert out["bench"] == "x"
    assert out["scenarios"]["a"] == {"mpps": 6.6, "runs": [6.0, 6.6, 7.0]}
    assert out["ratios"] == {"a/b": 33.0}
    assert out["env"]["k"] == 1
    json.dumps(out)


def test_tool_report_takes_the_last_json_line():
    text = "noise\n" + _report("rx", 1.0) + "\n" + _report("rx", 2.0) + "\ntrailer\n"
    assert pipe_bench.tool_report(text)["pps"] == 2.0
    with pytest.raises(PtnetError):
        pipe_bench.tool_report("Speed: 1 Mpps\n{not json\n")


def test_receiver_mpps_is_the_receivers_pps_in_millions():
    assert pipe_bench.receiver_mpps(_run(6_600_000.0)) == pytest.approx(6.6)


def test_receiver_without_packets_or_wrong_role_fails():
    run = _run(1.0)
    run["rx"] = _report("rx", 0.0, packets=0)
    with pytest.raises(PtnetError, match="no packets"):
        pipe_bench.receiver_mpps(run)
    run["rx"] = _report("tx", 5.0)
    with pytest.raises(PtnetError, match="role"):
        pipe_bench.receiver_mpps(run)
    with pytest.raises(PtnetError, match="timed out"):
        pipe_bench.receiver_mpps({"error": "timed out: pkt-gen"})


def test_pipe_result_has_the_required_shape():
    raw = {
        "env": {"guest_cpus": 2},
        "pipe": [_run(6.0e6), _run(6.6e6), _run(7.1e6)],
        "afpacket": [_run(0.17e6), _run(0.2e6), _run(0.18e6)],
    }
    out = pipe_bench.result(raw, env={"kernel": "k"})
    assert out["bench"] == "pipe"
    assert set(out["scenarios"]) == {"pipe", "afpacket"}
    pipe, af = out["scenarios"]["pipe"], out["scenarios"]["afpacket"]
    assert pipe["mpps"] == 6.6 and pipe["runs"] == [6.0, 6.6, 7.1]
    assert af["mpps"] == 0.18 and af["runs"] == [0.17, 0.2, 0.18]
    assert pipe["tx_mpps"] == [6.6, 7.26, 7.81]
    assert out["ratios"] == {"pipe/afpacket": round(6.6 / 0.18, 3)}
    assert out["env"]["kernel"] == "k" and out["env"]["guest_cpus"] == 2
    assert json.loads(json.dumps(out)) == out


def test_pipe_result_needs_both_scenarios():
    with pytest.raises(PtnetError, match="afpacket"):
        pipe_bench.result({"pipe": [_run(1e6)], "afpacket": []})


def test_guest_tool_arguments():
    tx, rx = tx_rx_args(Path("/t/pkt-gen"), "netmap:a{1", "netmap:a}1", 3.0)
    assert tx[:7] == ["/t/pkt-gen", "-i", "netmap:a{1", "-f", "tx", "-l", "60"]
    assert "--timeout" in tx and tx[tx.index("--timeout") + 1] == "3"
    assert tx[-1] == rx[-1] == "--json"
    assert rx[:5] == ["/t/pkt-gen", "-i", "netmap:a}1", "-f", "rx"]
    assert rx[rx.index("--idle") + 1] == "1"


def test_guest_command_runs_the_guest_module():
    tools = {"pkt-gen": Path("/p"), "afpacket-gen": Path("/a")}
    argv = pipe_bench.guest_command("/py", Path("/o.json"), 3, 3.0, tools)
    assert argv[:3] == ["/py", "-m", "ptnet.bench.pipe_guest"]
    assert argv[argv.index("--pkt-gen") + 1] == "/p"
    assert argv[argv.index("--afpacket-gen") + 1] == "/a"


def test_bench_pipe_command_is_registered():
    from typer.testing import CliRunner

    from ptnet.cli.bench import app

    result = CliRunner().invoke(app, ["pipe", "--help"])
    assert result.exit_code == 0
    assert "--runs" in result.output and "--seconds" in result.output
    assert CliRunner().invoke(app, ["pipe", "--runs", "2"]).exit_code != 0  # at least 3 runs
