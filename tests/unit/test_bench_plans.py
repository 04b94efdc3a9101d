"""The plans of `ptnet bench pipe` and `ptnet bench vale`: scenarios, argv, ratios, --baseline.

Pure: the tools are named, not built (tool_path is replaced), and nothing boots.
"""

import json
import stat
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from ptnet import paths
from ptnet.bench import baseline, traffic
from ptnet.bench import pipe as pipe_bench
from ptnet.bench import vale as vale_bench
from ptnet.build import kbuild
from ptnet.errors import PtnetError, UsageError

TOOLS = Path("/t")


@pytest.fixture(autouse=True)
def named_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ptnet.build.tools.tool_path", lambda name: TOOLS / name)


def _by_name(plan: traffic.Plan) -> dict[str, traffic.Scenario]:
    return {sc.name: sc for sc in plan.scenarios}


def _opt(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


@pytest.mark.parametrize(
    ("bench", "names", "ports"),
    [
        (
            pipe_bench,
            ["pipe_poll", "pipe_busy", "limit", "afpacket", "afpacket_sendonly"],
            ("netmap:pipeB{1", "netmap:pipeB}1"),
        ),
        (
            vale_bench,
            ["vale_poll", "vale_busy", "generic", "limit", "afpacket"],
            ("vale0:a", "vale0:b"),
        ),
    ],
)
def test_poll_busy_limit_and_afpacket_scenarios(bench, names: list[str], ports) -> None:
    plan = bench.plan(3, 2.5)
    sc = _by_name(plan)
    assert list(sc) == names
    kind = names[0].removesuffix("_poll")
    poll, busy = sc[f"{kind}_poll"], sc[f"{kind}_busy"]
    for s in (poll, busy):
        assert s.rx is not None and s.netmap and s.measured == "rx"
        assert (_opt(s.tx, "-i"), _opt(s.rx, "-i")) == ports
        assert (_opt(s.tx, "-f"), _opt(s.rx, "-f")) == ("tx", "rx")
        assert s.tx[0] == s.rx[0] == str(TOOLS / "pkt-gen")
        assert (_opt(s.tx, "-l"), _opt(s.tx, "--timeout")) == ("60", "2.5")
        assert (_opt(s.tx, "-a"), _opt(s.rx, "-a")) == ("0", "1")
    assert "--busy-wait" not in poll.tx + poll.rx  # poll() per batch is pkt-gen's default
    assert "--busy-wait" in busy.tx and "--busy-wait" in busy.rx
    limit = sc["limit"]
    assert limit.tx == [
        str(TOOLS / "ring-limit"), "-l", "60", "--timeout", "2.5", "-a", "0", "--json"
    ]  # fmt: skip
    assert (limit.rx, limit.measured, limit.netmap) == (None, "rx", False)
    assert sc["afpacket"].tx[0] == str(TOOLS / "afpacket-gen") and not sc["afpacket"].netmap
    assert all(s.module is None for s in plan.scenarios)
    assert traffic.plan_from_json(json.loads(json.dumps(asdict(plan)))) == plan


def test_pipe_ratios() -> None:
    assert pipe_bench.plan(3, 3.0).ratios == {
        "pipe_poll/limit": ("pipe_poll", "limit"),
        "pipe_busy/limit": ("pipe_busy", "limit"),
        "pipe_poll/afpacket": ("pipe_poll", "afpacket"),
        "pipe_busy/afpacket": ("pipe_busy", "afpacket"),
        "pipe_poll/afpacket_sendonly": ("pipe_poll", "afpacket_sendonly"),
    }


def test_vale_ratios() -> None:
    assert vale_bench.plan(3, 3.0).ratios == {
        "vale_poll/limit": ("vale_poll", "limit"),
        "vale_busy/limit": ("vale_busy", "limit"),
        "vale_poll/afpacket": ("vale_poll", "afpacket"),
        "vale_busy/afpacket": ("vale_busy", "afpacket"),
        "generic/afpacket": ("generic", "afpacket"),
    }


@pytest.mark.parametrize(
    ("bench", "netmap"),
    [(pipe_bench, ["pipe_poll", "pipe_busy"]), (vale_bench, ["vale_poll", "vale_busy", "generic"])],
)
def test_baseline_plan_runs_each_netmap_scenario_with_both_modules(bench, netmap) -> None:
    plan = bench.plan(3, 3.0)
    ours, base = Path("/m/netmap.ko"), Path("/b/netmap.ko")
    both = traffic.with_baseline(plan, ours, base)
    sc = _by_name(both)
    assert list(sc) == [s.name for s in plan.scenarios] + [f"{n}_baseline" for n in netmap]
    for name in netmap:
        mine, theirs = sc[name], sc[f"{name}_baseline"]
        assert (mine.module, theirs.module) == (str(ours), str(base))
        assert (theirs.tx, theirs.rx) == (mine.tx, mine.rx)
        assert both.ratios[f"{name}/{name}_baseline"] == (name, f"{name}_baseline")
    assert all(s.module is None for s in both.scenarios if not s.netmap)
    assert set(plan.ratios) < set(both.ratios)
    assert traffic.plan_from_json(json.loads(json.dumps(asdict(both)))) == both


def test_a_lone_process_measured_rx_reports_on_its_stdout() -> None:
    sc = traffic.Scenario("limit", ["ring-limit"], None, measured="rx")
    report = {"role": "rx", "packets": 10, "pps": 7.5e6, "loop": "limit"}
    assert traffic.scenario_mpps({"tx": json.dumps(report)}, sc) == 7.5
    with pytest.raises(PtnetError, match="expected the rx report"):
        traffic.scenario_mpps({"tx": json.dumps({**report, "role": "tx"})}, sc)


def test_the_guest_swaps_modules_between_scenarios(tmp_path: Path) -> None:
    """rmmod and insmod run before a scenario that names another module than the loaded one:
    once into each module per run, and never for a scenario that names none."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for cmd in ("rmmod", "insmod"):
        script = bin_dir / cmd
        script.write_text(f'#!/bin/sh\necho "{cmd} $*" >> {tmp_path}/calls\n')
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    tool = tmp_path / "gen"
    tool.write_text('#!/bin/sh\necho \'{"role": "tx", "packets": 1, "pps": 1000000}\'\n')
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    plan = traffic.Plan(
        bench="t",
        scenarios=[
            traffic.Scenario("a", [str(tool)], None, measured="tx", netmap=True),
            traffic.Scenario("b", [str(tool)], None, measured="tx"),
        ],
        ratios={},
        runs=2,
        seconds=1,
    )
    plan = traffic.with_baseline(plan, Path("/m/ours.ko"), Path("/m/base.ko"))
    (tmp_path / "plan.json").write_text(json.dumps(asdict(plan)))
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "ptnet.bench.traffic_guest", "plan.json", "raw.json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    swap = ["rmmod netmap", "insmod /m/ours.ko", "rmmod netmap", "insmod /m/base.ko"]
    assert (tmp_path / "calls").read_text().splitlines() == swap * 2
    out = traffic.result(plan, json.loads((tmp_path / "raw.json").read_text()), {})
    assert out["ratios"] == {"a/a_baseline": 1.0}
    assert out["scenarios"]["a_baseline"]["module"] == "/m/base.ko"


@pytest.mark.parametrize("bench", ["pipe", "vale"])
def test_an_unknown_baseline_ref_is_one_line_and_exit_2(run_ptnet, bench: str) -> None:
    proc = run_ptnet("bench", bench, "--baseline", "no-such-ref-13")
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"ptnet: error: --baseline no-such-ref-13: no such commit in {paths.source_root()}"
    ]
    assert proc.stdout == ""


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(paths.source_root()), *args], capture_output=True, text=True, check=True
    ).stdout


def _root_commit() -> str:
    return _git("rev-list", "--max-parents=0", "HEAD").split()[0]


def test_a_baseline_without_a_module_to_build_is_one_line_and_exit_2(run_ptnet) -> None:
    root = _root_commit()
    proc = run_ptnet("bench", "pipe", "--baseline", root)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"ptnet: error: --baseline {root}: commit {root[:12]} has no kernel/Kbuild to build"
    ]


def test_a_baseline_that_does_not_build_is_a_usage_error(monkeypatch, tmp_path) -> None:
    def broken(*_args: object) -> list[Path]:
        raise PtnetError("kbuild of kernel/ for 6.1.0-x failed with exit code 2: main.c:1: error")

    monkeypatch.setattr(baseline, "source", lambda ref, commit: tmp_path)
    monkeypatch.setattr(kbuild, "build_other_dir", broken)
    with pytest.raises(UsageError) as err:
        baseline.build(object(), "v1", "0123456789abcdef")  # type: ignore[arg-type]
    assert str(err.value) == (
        "--baseline v1: netmap.ko of 0123456789ab does not build: "
        "kbuild of kernel/ for 6.1.0-x failed with exit code 2: main.c:1: error"
    )


def test_a_baseline_ref_resolves_to_its_commit() -> None:
    assert baseline.resolve("HEAD") == _git("rev-parse", "HEAD").strip()
    with pytest.raises(UsageError, match="not a git ref"):
        baseline.resolve("--all")
