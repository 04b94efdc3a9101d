"""Traffic benchmarks in the lab: a plan of scenarios, run in one boot, parsed on the host.

A plan says what to set up in the guest (modules, veth pairs, ...) and which tool pairs to run.
Each scenario runs `runs` times: the receiver starts, then the sender sends for `seconds`; the
receiver stops once traffic has been idle for RX_IDLE_S. A scenario without a receiver measures
the sender alone (measured "tx"), or is one process that moves the frames both ways and reports
the receiving side (measured "rx": ring-limit). ptnet.bench.traffic_guest executes the plan inside
the guest and saves the tools' raw outputs; this module builds the plan, boots the lab and turns
outputs into figures: the measured side's packet rate per run, medians, and ratios of medians.
"""

import json
import sys
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from ptnet import host
from ptnet.bench import harness
from ptnet.errors import PtnetError
from ptnet.lab.kernel import Kernel

FRAME_LEN = 60
RX_IDLE_S = 1.0  # a receiver stops after this long without packets
TX_CPU, RX_CPU = 0, 1
RAW_NAME = "raw.json"
PLAN_NAME = "plan.json"


@dataclass(frozen=True)
class Scenario:
    name: str
    tx: list[str]  # the sender's argv
    rx: list[str] | None  # the receiver's argv, or None to measure the sender alone
    measured: Literal["rx", "tx"] = "rx"
    # Non-empty: the receiver runs in a nested guest (booted once, before the first run) whose
    # NIC these QEMU arguments make; its argv names the NIC as netmap:$IF or $IF.
    nested_nic: list[str] = field(default_factory=list)
    netmap: bool = False  # goes through netmap.ko (a --baseline module runs it again)
    module: str | None = None  # the netmap.ko to have loaded for it (None: whichever is loaded)


@dataclass
class Plan:
    bench: str
    scenarios: list[Scenario]
    ratios: dict[str, tuple[str, str]]
    setup: list[list[str]] = field(default_factory=list)  # run in order before the scenarios
    runs: int = 3
    seconds: float = 3.0
    smp: int = 2
    boot_budget_s: float = 120.0  # the lab's boot and setup, and nested guests' boots


BASELINE_SUFFIX = "_baseline"


def with_baseline(plan: Plan, ours: Path, baseline: Path) -> Plan:
    """The plan with each netmap scenario run again with the baseline module, after the others
    (one rmmod/insmod each way per run), and the ratio ours/baseline of each."""
    netmap = [sc for sc in plan.scenarios if sc.netmap]
    mine = [replace(sc, module=str(ours)) if sc.netmap else sc for sc in plan.scenarios]
    base = [replace(sc, name=sc.name + BASELINE_SUFFIX, module=str(baseline)) for sc in netmap]
    ratios = dict(plan.ratios)
    for sc in netmap:
        ratios[f"{sc.name}/{sc.name}{BASELINE_SUFFIX}"] = (sc.name, sc.name + BASELINE_SUFFIX)
    return replace(plan, scenarios=mine + base, ratios=ratios)


def gen_pair(
    tool: Path,
    tx_port: str,
    rx_port: str | None,
    seconds: float,
    extra: tuple[str, ...] = (),
    both: tuple[str, ...] = (),
) -> tuple[list[str], list[str] | None]:
    """Sender and receiver argv for pkt-gen-compatible tools, pinned to separate CPUs; `extra`
    goes to the sender, `both` to both sides."""
    tx = [str(tool), "-i", tx_port, "-f", "tx", "-l", str(FRAME_LEN), "--timeout", f"{seconds:g}"]
    tx += [*extra, *both, "-a", str(TX_CPU), "--json"]
    if rx_port is None:
        return tx, None
    rx = [str(tool), "-i", rx_port, "-f", "rx", "--idle", f"{RX_IDLE_S:g}"]
    rx += ["--timeout", f"{seconds + 20:g}", *both, "-a", str(RX_CPU), "--json"]
    return tx, rx


BUSY = ("--busy-wait",)  # pkt-gen's ioctl-driven loop; without it, one poll() per batch


def netmap_pair(
    name: str, tool: Path, tx_port: str, rx_port: str, seconds: float
) -> list[Scenario]:
    """NAME_poll and NAME_busy: pkt-gen's two loop styles from tx_port to rx_port."""
    return [
        Scenario(f"{name}_poll", *gen_pair(tool, tx_port, rx_port, seconds), netmap=True),
        Scenario(
            f"{name}_busy", *gen_pair(tool, tx_port, rx_port, seconds, both=BUSY), netmap=True
        ),
    ]


def limit(tool: Path, seconds: float) -> Scenario:
    """ring-limit: the user-space limit, sender on TX_CPU and receiver on RX_CPU, one process."""
    argv = [str(tool), "-l", str(FRAME_LEN), "--timeout", f"{seconds:g}", "-a", str(TX_CPU)]
    return Scenario("limit", [*argv, "--json"], None, measured="rx")


def veth_setup(a: str, b: str) -> list[list[str]]:
    return [
        ["modprobe", "veth"],
        ["ip", "link", "add", a, "type", "veth", "peer", "name", b],
        ["ip", "link", "set", a, "up"],
        ["ip", "link", "set", b, "up"],
    ]


def tool_report(stdout: str) -> dict[str, Any]:
    """The JSON object a tool printed with --json (its last JSON line on stdout)."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                return obj
    raise PtnetError(f"no --json report in the tool's output: {stdout[-300:]!r}")


def run_mpps(run: dict[str, Any], side: Literal["rx", "tx"]) -> float:
    """The figure of one run: the packet rate of `side`, in Mpps."""
    if run.get("error"):
        raise PtnetError(f"run failed in the guest: {run['error']}")
    report = tool_report(run.get(side) or "")
    if report.get("role") != side:
        raise PtnetError(f"expected the {side} report, got role {report.get('role')!r}")
    if not report.get("packets"):
        detail = (run.get(f"{side}_err") or "").strip()[-300:]
        raise PtnetError(f"the {side} side moved no packets; its stderr: {detail!r}")
    return float(report["pps"]) / 1e6


def scenario_mpps(run: dict[str, Any], sc: Scenario) -> float:
    """The figure of one run of `sc`; a lone process measured "rx" reports on its own stdout."""
    if sc.rx is None and sc.measured == "rx":
        return run_mpps({**run, "rx": run.get("tx"), "rx_err": run.get("tx_err")}, "rx")
    return run_mpps(run, sc.measured)


def scenarios_of(plan: Plan, raw: dict[str, Any]) -> dict[str, harness.Scenario]:
    out: dict[str, harness.Scenario] = {}
    for sc in plan.scenarios:
        runs = raw.get(sc.name) or []
        if not runs:
            raise PtnetError(f"no runs of scenario {sc.name} in the guest's results")
        s = harness.Scenario("mpps", [round(scenario_mpps(r, sc), 4) for r in runs])
        s.extra["measured"] = sc.measured
        if sc.module is not None:
            s.extra["module"] = sc.module
        if sc.rx is not None:
            s.extra["tx_mpps"] = [round(run_mpps(r, "tx"), 4) for r in runs]
        out[sc.name] = s
    return out


def result(plan: Plan, raw: dict[str, Any], env: dict[str, Any]) -> dict[str, Any]:
    return harness.report(
        plan.bench, scenarios_of(plan, raw), plan.ratios, env={**raw.get("env", {}), **env}
    )


def run(
    kernel: Kernel, plan: Plan, modules: list[Path], env: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Boot the lab once with `modules` and execute `plan`; return the bench's JSON object."""
    from ptnet.lab import runner

    per_run = plan.seconds + RX_IDLE_S + 10
    budget = plan.boot_budget_s + len(plan.scenarios) * plan.runs * per_run
    with tempfile.TemporaryDirectory(prefix=f"ptnet-bench-{plan.bench}-") as tmp:
        plan_file, out = Path(tmp) / PLAN_NAME, Path(tmp) / RAW_NAME
        plan_file.write_text(json.dumps(asdict(plan)))
        spec = runner.LabSpec(
            kernel=kernel,
            command=[sys.executable, "-m", "ptnet.bench.traffic_guest", str(plan_file), str(out)],
            modules=modules,
            smp=plan.smp,
            timeout=budget,
            rw_dirs=[Path(tmp)],
            cwd=Path(tmp),
        )
        # Everything the guest prints is progress: stdout stays free for the JSON.
        lab = runner.run(spec, output=sys.stderr.buffer)
        if lab.exit_code != 0 or not out.is_file():
            raise PtnetError(
                f"the {plan.bench} benchmark failed in the lab (exit code {lab.exit_code}); "
                f"console: {lab.console_log}"
            )
        raw = json.loads(out.read_text())
    cpus = raw.get("env", {}).get("guest_cpus")
    if cpus is not None and cpus < plan.smp:
        host.log(f"warning: the guest saw {cpus} CPU(s) of {plan.smp}")
    env = {
        **(env or {}),
        "kernel": kernel.release,
        "accel": lab.accel,
        "smp": plan.smp,
        "runs": plan.runs,
        "seconds_per_run": plan.seconds,
        "frame_len": FRAME_LEN,
    }
    return result(plan, raw, env)


def plan_from_json(data: dict[str, Any]) -> Plan:
    scenarios = [Scenario(**s) for s in data.pop("scenarios")]
    ratios = {k: (v[0], v[1]) for k, v in data.pop("ratios").items()}
    return Plan(scenarios=scenarios, ratios=ratios, **data)


def run_netmap(kernel: Kernel, plan: Plan, baseline: str | None = None) -> dict[str, Any]:
    """Build our tools and netmap.ko for `kernel`, then run `plan` with the module loaded; with
    `baseline` (a git ref), also netmap.ko of that ref, which the netmap scenarios run again."""
    from ptnet.bench import baseline as base
    from ptnet.build import kbuild
    from ptnet.build.tools import build_tools
    from ptnet.lab import modules

    commit = base.resolve(baseline) if baseline is not None else None
    build_tools()
    kbuild.build_modules(kernel)
    ours = modules.resolve(kernel, "netmap")
    env: dict[str, Any] = {}
    if baseline is not None and commit is not None:
        plan = with_baseline(plan, ours, base.build(kernel, baseline, commit))
        env["baseline"] = {"ref": baseline, "commit": commit}
    return run(kernel, plan, [ours], env)
