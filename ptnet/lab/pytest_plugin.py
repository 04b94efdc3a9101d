"""pytest integration: tests marked `lab` run inside the lab VM against the real kernel modules.

On the host, every lab-marked test is grouped by the modules it needs; each group runs in one VM
(one boot, one pytest inside), and each test's outcome is then replayed on the host, so the host
report lists every guest test with its own result, failure text and duration (what the test
took in the guest, fixtures included, so --durations profiles the guest tests, not the
boots). Inside the guest
(PTNET_IN_LAB=1) the tests simply run, and this plugin records their outcomes.

    @pytest.mark.lab                      # loads netmap.ko
    @pytest.mark.lab(modules=[])          # plain guest kernel
    @pytest.mark.lab(smp=2)               # needs two CPUs

Options: --lab-kernel VER (default: the default series), --lab-timeout SECONDS.
"""

import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

IN_LAB = os.environ.get("PTNET_IN_LAB") == "1"
DEFAULT_MODULES = ("netmap",)
REPORT_ENV = "PTNET_LAB_REPORT"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ptnet lab")
    group.addoption("--lab-kernel", default=None, help="cached kernel for lab tests")
    group.addoption(
        "--lab-timeout", type=float, default=1800.0, help="seconds per lab VM (default 1800)"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lab(modules=..., smp=N): run inside the lab VM")


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


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get(REPORT_ENV)
    if IN_LAB and path:
        Path(path).write_text(json.dumps(_outcomes))


# --------------------------------------------------------------------------------------------
# On the host: run each group of lab tests in one VM and replay the outcomes.
# --------------------------------------------------------------------------------------------


def _group_key(item: pytest.Item) -> tuple[tuple[str, ...], int]:
    marker = item.get_closest_marker("lab")
    assert marker is not None
    return tuple(marker.kwargs.get("modules", DEFAULT_MODULES)), int(marker.kwargs.get("smp", 1))


class _LabGroups:
    def __init__(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        self.config = config
        self.groups: dict[tuple[tuple[str, ...], int], list[pytest.Item]] = {}
        for item in items:
            self.groups.setdefault(_group_key(item), []).append(item)
        self.results: dict[str, dict[str, Any]] = {}
        self.ran: set[tuple[tuple[str, ...], int]] = set()

    def outcome(self, item: pytest.Item) -> dict[str, Any]:
        key = _group_key(item)
        if key not in self.ran:
            self.ran.add(key)
            self._run_group(key, self.groups[key])
        return self.results[item.nodeid]

    def _run_group(self, key: tuple[tuple[str, ...], int], items: list[pytest.Item]) -> None:
        from ptnet.build import kbuild
        from ptnet.lab import kernel, runner
        from ptnet.lab import modules as mods

        modules, smp = key
        k = kernel.find(self.config.getoption("--lab-kernel"))
        if modules:
            kbuild.build_modules(k)
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
                timeout=self.config.getoption("--lab-timeout"),
                rw_dirs=[rootdir, Path(tmp)],
                cwd=rootdir,
                env={REPORT_ENV: str(report)},
            )
            with log.open("wb") as out:
                result = runner.run(spec, output=out)
            guest_output = log.read_text(errors="replace")
            recorded = json.loads(report.read_text()) if report.is_file() else {}
        for item in items:
            self.results[item.nodeid] = recorded.get(item.nodeid) or {
                "outcome": "failed",
                "longrepr": (
                    f"no result from the lab guest (exit code {result.exit_code}, "
                    f"console {result.console_log}); guest output:\n{guest_output[-4000:]}"
                ),
            }


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if IN_LAB:
        return
    lab_items = [i for i in items if i.get_closest_marker("lab")]
    if not lab_items:
        return
    groups = _LabGroups(config, lab_items)
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
