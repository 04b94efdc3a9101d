"""How the lab plugin splits a group of tests into VMs: whole files, balanced by their seconds."""

import threading
from pathlib import Path
from types import SimpleNamespace

from ptnet.lab.pytest_plugin import _LabGroups, _merged, _shards
from ptnet.lab.runner import LabResult

KEY = (("netmap",), 1)
NEVER = lambda item: False  # noqa: E731


def items(spec: dict[str, int]) -> list[SimpleNamespace]:
    return [SimpleNamespace(nodeid=f"{f}::t{i}") for f, n in spec.items() for i in range(n)]


def files_of(run) -> list[str]:
    return sorted({i.nodeid.split("::")[0] for i in run.items})


def test_files_stay_whole_and_the_load_is_balanced_by_seconds():
    its = items({"a.py": 3, "b.py": 1, "c.py": 1, "d.py": 2})
    seconds = {"a.py": 100.0, "b.py": 60.0, "c.py": 50.0, "d.py": 10.0}
    runs = _shards(KEY, its, 2, seconds, NEVER)
    assert [files_of(r) for r in runs] == [["a.py", "d.py"], ["b.py", "c.py"]]
    assert [r.weight for r in runs] == [110.0, 110.0]
    assert sum(len(r.items) for r in runs) == len(its)


def test_each_run_keeps_the_collection_order():
    its = items({"z.py": 2, "a.py": 1, "m.py": 1})
    (run,) = _shards(KEY, its, 1, {}, NEVER)
    assert [i.nodeid for i in run.items] == [i.nodeid for i in its]


def test_unknown_files_weigh_what_known_tests_take_on_average():
    its = items({"known.py": 2, "new.py": 4})
    runs = _shards(KEY, its, 2, {"known.py": 10.0}, NEVER)
    assert sorted(r.weight for r in runs) == [10.0, 20.0]


def test_never_more_runs_than_files():
    assert len(_shards(KEY, items({"a.py": 5}), 4, {}, NEVER)) == 1


def test_the_tests_for_every_run_end_each_run():
    its = items({"a.py": 2, "b.py": 2, "unload.py": 1})
    runs = _shards(KEY, its, 2, {}, lambda item: item.nodeid.startswith("unload.py"))
    assert len(runs) == 2
    for run in runs:
        assert run.items[-1].nodeid == "unload.py::t0"
        assert len(run.items) == 3


def test_a_test_run_in_several_vms_fails_if_it_failed_in_any():
    ok = {"outcome": "passed", "longrepr": ""}
    bad = {"outcome": "failed", "longrepr": "leaked"}
    worse = {"outcome": "failed", "longrepr": "oops"}
    assert _merged(None, ok) == ok
    assert _merged(ok, bad) == bad
    assert _merged(bad, ok) == bad
    both = _merged(bad, worse)
    assert (
        both["outcome"] == "failed" and "leaked" in both["longrepr"] and "oops" in both["longrepr"]
    )


class Marked(SimpleNamespace):
    def get_closest_marker(self, name: str):
        return SimpleNamespace(args=(self.limit,)) if name == "timeout" and self.limit else None


def test_a_vm_lives_as_long_as_its_tests_own_limits_ask():
    from ptnet.lab.pytest_plugin import VM_MARGIN, _vm_timeout

    short = [Marked(nodeid="a.py::t", limit=600), Marked(nodeid="a.py::u", limit=None)]
    assert _vm_timeout(short, 1800.0) == 1800.0
    long = [Marked(nodeid="e2e.py::t", limit=3600), Marked(nodeid="e2e.py::u", limit=3600)]
    assert _vm_timeout(long, 1800.0) == 7200.0 + VM_MARGIN


class ScriptedLab(_LabGroups):
    """The plugin's policy with the lab VMs replaced by a script of what each VM reported."""

    def __init__(self, script: list[tuple[bool, dict[str, str]]]) -> None:
        self.results = {}
        self.lock = threading.Lock()
        self.script = script
        self.asked: list[list[str]] = []

    def _lab_vm(self, k, key, items):
        self.asked.append([i.nodeid for i in items])
        stalled, outcomes = self.script.pop(0)
        result = LabResult(124 if stalled else 0, "tcg", 1.0, 2.0, Path("/nonexistent"), stalled)
        reported = {n: {"outcome": o, "longrepr": ""} for n, o in outcomes.items()}
        return result, "guest said", reported


def run_of(key, its):
    (run,) = _shards(key, its, 1, {}, NEVER)
    return run


def test_a_stalled_nested_kvm_lab_reruns_only_its_unfinished_tests_once():
    its = items({"a.py": 3})
    lab = ScriptedLab([(True, {"a.py::t0": "passed"}), (False, {"a.py::t1": "passed"})])
    lab._run_vm(None, run_of((("netmap",), 1, 2048, True), its))
    assert lab.asked == [["a.py::t0", "a.py::t1", "a.py::t2"], ["a.py::t1", "a.py::t2"]]
    assert lab.results["a.py::t0"]["outcome"] == lab.results["a.py::t1"]["outcome"] == "passed"
    assert lab.results["a.py::t2"]["outcome"] == "failed"
    assert "no result from the lab guest (exit code 0" in lab.results["a.py::t2"]["longrepr"]


def test_a_lab_that_stalls_twice_or_without_nested_kvm_is_not_retried():
    its = items({"a.py": 2})
    twice = ScriptedLab([(True, {}), (True, {})])
    twice._run_vm(None, run_of((("netmap",), 1, 2048, True), its))
    assert len(twice.asked) == 2
    assert "the lab stalled" in twice.results["a.py::t0"]["longrepr"]
    plain = ScriptedLab([(True, {})])
    plain._run_vm(None, run_of((("netmap",), 1, 2048, False), its))
    assert len(plain.asked) == 1
    assert plain.results["a.py::t1"]["outcome"] == "failed"
