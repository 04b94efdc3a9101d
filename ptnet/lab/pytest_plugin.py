"""pytest integration: tests marked `lab` run inside the lab VM against the real kernel modules.

On the host, every selected lab-marked test is grouped by the modules and CPUs it needs; a group's
files are split across one VM per host CPU (balanced by the guest seconds per file in
--lab-durations), and all VMs run at once as CPUs come free (one boot, one pytest inside each).
Tests marked `netmap_last` (the unload and kernel-log checks) end every VM of their group. Each
test's outcome is then replayed on the host, so the host report lists every guest test with its
own result, failure text and duration (what the test took in the guest, fixtures included, so
--durations profiles the guest tests, not the boots). Inside the guest
(PTNET_IN_LAB=1) the tests simply run, and this plugin records their outcomes.

    @pytest.mark.lab                      # loads netmap.ko
    @pytest.mark.lab(modules=[])          # plain guest kernel
    @pytest.mark.lab(smp=2)               # needs two CPUs
    @pytest.mark.lab(smp=2, mem=2048)     # and 2 GiB (nested guests)
    @pytest.mark.lab(mem=2048, nested_kvm=True)  # nested guests under KVM (one CPU only)

Options: --lab-kernel VER (default: the default series), --lab-timeout SECONDS (per VM),
--lab-durations FILE, --lab-save-durations (write this run's seconds per file into it).
"""

import json
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ptnet.lab.kernel import Kernel
    from ptnet.lab.runner import LabResult

IN_LAB = os.environ.get("PTNET_IN_LAB") == "1"
DEFAULT_MODULES = ("netmap",)
DEFAULT_MEM_MB = 1024  # the lab VM's memory unless a test asks for more (nested guests)
REPORT_ENV = "PTNET_LAB_REPORT"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ptnet lab")
    group.addoption("--lab-kernel", default=None, help="cached kernel for lab tests")
    group.addoption(
        "--lab-timeout",
        type=float,
        default=1800.0,
        help=(
            "seconds per lab VM, at least (default 1800; "
            "more when its tests' own limits add up to more)"
        ),
    )
    group.addoption(
        "--lab-durations",
        default="tests/lab/durations.json",
        help="guest seconds per test file (relative to the root), to balance the lab VMs",
    )
    group.addoption(
        "--lab-save-durations",
        action="store_true",
        help="write this session's guest seconds per file into the --lab-durations file",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "lab(modules=..., smp=N, mem=MiB, nested_kvm=BOOL): run inside the lab VM"
    )


# --------------------------------------------------------------------------------------------
# Inside the guest: record each test's outcome for the host.
# --------------------------------------------------------------------------------------------

_outcomes: dict[str, dict[str, Any]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not IN_LAB or not os.environ.get(REPORT_ENV):
        return
    entry = _outcomes.setdefault(
        report.nodeid, {"outcome": "passed", "longrepr": "", "duration": 0.0}
    )
    entry["duration"] += report.duration
    if report.skipped and report.when in ("setup", "call"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        entry.update(outcome="skipped", longrepr=reason)
    elif report.failed:
        entry.update(outcome="failed", longrepr=f"[{report.when}] {report.longreprtext}")
    if report.when == "teardown":  # kept even if the lab stops before the session ends
        _write_outcomes(os.environ[REPORT_ENV])


def _write_outcomes(path: str) -> None:
    Path(path + ".new").write_text(json.dumps(_outcomes))
    os.replace(path + ".new", path)


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get(REPORT_ENV)
    if IN_LAB and path:
        _write_outcomes(path)
    groups = session.config.stash.get(_GROUPS, None)
    out = _durations_path(session.config)
    if groups is not None and out is not None and session.config.getoption("--lab-save-durations"):
        merged = _read_durations(session.config) | {
            f: round(t, 1) for f, t in groups.file_seconds().items()
        }
        out.write_text(json.dumps(dict(sorted(merged.items())), indent=1) + "\n")


# --------------------------------------------------------------------------------------------
# On the host: run each group of lab tests in one VM and replay the outcomes.
# --------------------------------------------------------------------------------------------


GroupKey = tuple[tuple[str, ...], int, int, bool]  # modules, smp, mem, nested_kvm


def _group_key(item: pytest.Item) -> GroupKey:
    marker = item.get_closest_marker("lab")
    assert marker is not None
    return (
        tuple(marker.kwargs.get("modules", DEFAULT_MODULES)),
        int(marker.kwargs.get("smp", 1)),
        int(marker.kwargs.get("mem", DEFAULT_MEM_MB)),
        bool(marker.kwargs.get("nested_kvm", False)),
    )


@dataclass
class _Run:
    """One lab VM: a shard of a group's tests (whole files), with its estimated guest seconds."""

    key: GroupKey
    items: list[pytest.Item]
    weight: float
    done: threading.Event = field(default_factory=threading.Event)


# A lab VM's time beyond its tests' own limits: boot, and pytest's start inside the guest.
VM_MARGIN = 300.0


def _vm_timeout(items: list[pytest.Item], default: float) -> float:
    """A lab VM's time limit: `default` (--lab-timeout), or more when the time limits its tests
    set for themselves (pytest.mark.timeout) add up to more, so that a long test fails on its
    own limit, with its own message, rather than on the VM's."""
    marked = [m.args[0] for i in items if (m := i.get_closest_marker("timeout")) and m.args]
    return max(default, sum(float(s) for s in marked) + VM_MARGIN)


def _shards(
    key: GroupKey,
    items: list[pytest.Item],
    n: int,
    seconds: dict[str, float],
    everywhere: Callable[[pytest.Item], bool],
) -> list[_Run]:
    """Split a group into at most n runs of whole files, longest first onto the least loaded run
    (files keep their module fixtures and their order). Tests for which everywhere() is true
    (the netmap_last checks: unload, kernel log) run at the end of every run."""
    files: dict[str, list[pytest.Item]] = {}
    last = [item for item in items if everywhere(item)]
    for item in items:
        if not everywhere(item):
            files.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    known = [seconds[f] / len(its) for f, its in files.items() if f in seconds]
    per_test = sum(known) / len(known) if known else 1.0
    weights = {f: seconds.get(f, per_test * len(its)) for f, its in files.items()}
    runs = [_Run(key, [], 0.0) for _ in range(max(1, min(n, len(files))))]
    for f in sorted(files, key=lambda f: -weights[f]):
        run = min(runs, key=lambda r: r.weight)
        run.items += files[f]
        run.weight += weights[f]
    order = {item.nodeid: i for i, item in enumerate(items)}
    for run in runs:
        run.items.sort(key=lambda item: order[item.nodeid])
        run.items += last
    return runs


class _CpuSlots:
    """The host's CPUs, handed to lab VMs: a VM with smp N holds N of them while it runs."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.free = total
        self.cond = threading.Condition()

    def take(self, n: int) -> int:
        n = min(n, self.total)
        with self.cond:
            self.cond.wait_for(lambda: self.free >= n)
            self.free -= n
        return n

    def give(self, n: int) -> None:
        with self.cond:
            self.free += n
            self.cond.notify_all()


class _LabGroups:
    """Every lab test of the session, in runs (VMs) that share the host's CPUs: a group of tests
    needing the same modules and CPU count is split across as many VMs as the host has CPUs for
    it, and all runs start together, longest first, as CPUs come free."""

    def __init__(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        self.config = config
        self.cpus = len(os.sched_getaffinity(0))
        seconds = _read_durations(config)
        groups: dict[GroupKey, list[pytest.Item]] = {}
        for item in items:
            groups.setdefault(_group_key(item), []).append(item)
        self.runs = [
            run
            for key, its in groups.items()
            for run in _shards(key, its, max(1, self.cpus // key[1]), seconds, _everywhere)
        ]
        self.runs_of: dict[str, list[_Run]] = {}
        for run in self.runs:
            for item in run.items:
                self.runs_of.setdefault(item.nodeid, []).append(run)
        self.results: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.started = False

    def outcome(self, item: pytest.Item) -> dict[str, Any]:
        if not self.started:
            self.started = True
            self._start()
        for run in self.runs_of[item.nodeid]:
            run.done.wait()
        return self.results[item.nodeid]

    def _start(self) -> None:
        """Build what every run shares once, here, then dispatch the runs in the background."""
        from ptnet.build import kbuild
        from ptnet.lab import accel, initramfs, kernel, runner

        k = kernel.find(self.config.getoption("--lab-kernel"))
        if any(run.key[0] for run in self.runs):
            kbuild.build_modules(k)
        initramfs.base(k)
        accel.choose(runner.qemu_binary(), k)
        slots = _CpuSlots(self.cpus)
        ordered = sorted(self.runs, key=lambda r: -r.weight * r.key[1])

        def dispatch() -> None:
            for run in ordered:
                held = slots.take(run.key[1])
                threading.Thread(target=self._run, args=(k, run, slots, held), daemon=True).start()

        threading.Thread(target=dispatch, daemon=True).start()

    def _run(self, k: "Kernel", run: _Run, slots: _CpuSlots, held: int) -> None:
        try:
            self._run_vm(k, run)
        except Exception as e:  # noqa: BLE001 - every test of the run reports it
            for item in run.items:
                self._record(item.nodeid, {"outcome": "failed", "longrepr": f"lab run: {e}"})
        finally:
            slots.give(held)
            run.done.set()

    def _run_vm(self, k: "Kernel", run: _Run) -> None:
        """Run the group's tests in one lab VM. A lab with nested KVM that stalls (an emulator
        defect we measured, ptnet/lab/runner.py) is started once more for the tests it left
        without a result; any other lab failure is every remaining test's failure."""
        items = run.items
        for attempt in (1, 2):
            result, guest_output, recorded = self._lab_vm(k, run.key, items)
            for nodeid, got in recorded.items():
                self._record(nodeid, got)
            items = [item for item in items if item.nodeid not in recorded]
            if not (items and result.stalled and run.key[3] and attempt == 1):
                break
            sys.stderr.write(
                f"\nptnet lab: the nested-KVM lab stalled ({result.console_log}); "
                f"running its {len(items)} unfinished test(s) once more\n"
            )
        why = "the lab stalled" if result.stalled else f"exit code {result.exit_code}"
        for item in items:
            self._record(
                item.nodeid,
                {
                    "outcome": "failed",
                    "longrepr": (
                        f"no result from the lab guest ({why}, console {result.console_log}); "
                        f"guest output:\n{guest_output[-4000:]}\n"
                        f"lab console, last lines:\n{result.console_tail()}"
                    ),
                },
            )

    def _lab_vm(
        self, k: "Kernel", key: GroupKey, items: list[pytest.Item]
    ) -> tuple["LabResult", str, dict[str, dict[str, Any]]]:
        """One lab VM running `items`: its result, its output, and the outcomes it reported."""
        from ptnet.lab import modules as mods
        from ptnet.lab import runner

        modules, smp, mem_mb, nested_kvm = key
        rootdir = Path(str(self.config.rootpath))
        with tempfile.TemporaryDirectory(prefix="ptnet-lab-report-") as tmp:
            report = Path(tmp) / "report.json"
            log = Path(tmp) / "guest.log"
            spec = runner.LabSpec(
                kernel=k,
                command=[sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
                + [item.nodeid for item in items],
                modules=[mods.resolve(k, m) for m in modules],
                smp=smp,
                mem_mb=mem_mb,
                timeout=_vm_timeout(items, self.config.getoption("--lab-timeout")),
                rw_dirs=[rootdir, Path(tmp)],
                cwd=rootdir,
                env={REPORT_ENV: str(report)},
                nested_kvm=nested_kvm,
            )
            with log.open("wb") as out:
                result = runner.run(spec, output=out)
            recorded = json.loads(report.read_text()) if report.is_file() else {}
            return result, log.read_text(errors="replace"), recorded

    def _record(self, nodeid: str, got: dict[str, Any]) -> None:
        with self.lock:
            self.results[nodeid] = _merged(self.results.get(nodeid), got)

    def file_seconds(self) -> dict[str, float]:
        """Guest seconds per test file, as measured in this session."""
        out: dict[str, float] = {}
        for nodeid, got in self.results.items():
            f = nodeid.split("::", 1)[0]
            out[f] = out.get(f, 0.0) + float(got.get("duration", 0.0))
        return out


def _merged(had: dict[str, Any] | None, got: dict[str, Any]) -> dict[str, Any]:
    """The outcome of a test that ran in several VMs: failed if it failed in any of them."""
    if had is None or got["outcome"] == "failed" and had["outcome"] != "failed":
        return got
    if got["outcome"] == "failed":
        return {**had, "longrepr": had["longrepr"] + "\n[in another VM]\n" + got["longrepr"]}
    return had


def _everywhere(item: pytest.Item) -> bool:
    return item.get_closest_marker("netmap_last") is not None


def _durations_path(config: pytest.Config) -> Path | None:
    given = config.getoption("--lab-durations")
    return Path(str(config.rootpath)) / given if given else None


def _read_durations(config: pytest.Config) -> dict[str, float]:
    path = _durations_path(config)
    if path is None or not path.is_file():
        return {}
    data: dict[str, float] = json.loads(path.read_text())
    return data


@pytest.hookimpl(trylast=True)  # after -m and -k: a deselected test never runs in a VM
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if IN_LAB:
        return
    lab_items = [i for i in items if i.get_closest_marker("lab")]
    if not lab_items:
        return
    groups = _LabGroups(config, lab_items)
    config.stash[_GROUPS] = groups
    for item in lab_items:
        item.stash[_GROUPS] = groups
        item.runtest = _replay(groups, item)  # type: ignore[method-assign]
        # Fixtures of lab tests belong to the guest; the host only replays the outcome.
        item.fixturenames = []  # type: ignore[attr-defined]


_GROUPS = pytest.StashKey[_LabGroups]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A replayed test's call lasts what it took in the guest (not its group's boot)."""
    outcome = yield
    groups = item.stash.get(_GROUPS, None)
    if groups is None or call.when != "call":
        return
    got = groups.results.get(item.nodeid, {})
    if "duration" in got:
        outcome.get_result().duration = got["duration"]


def _replay(groups: _LabGroups, item: pytest.Item) -> Callable[[], None]:
    def runtest() -> None:
        got = groups.outcome(item)
        if got["outcome"] == "skipped":
            pytest.skip(got["longrepr"])
        if got["outcome"] == "failed":
            pytest.fail(f"inside the lab guest:\n{got['longrepr']}", pytrace=False)

    return runtest
