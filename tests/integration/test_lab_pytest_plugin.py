"""The pytest plugin: lab-marked tests run in the guest and each outcome comes back on the host."""

import re
import subprocess
import sys
import textwrap

import pytest

from ptnet.lab import kernel

pytestmark = pytest.mark.skipif(not kernel.cached(), reason="needs a cached lab kernel")

SAMPLE = textwrap.dedent(
    """
    import os
    import time
    import pytest

    @pytest.mark.lab(modules=[])
    def test_runs_in_the_guest():
        assert os.environ["PTNET_IN_LAB"] == "1"
        assert os.uname().release == os.environ["PTNET_LAB_KERNEL"]

    @pytest.mark.lab(modules=[])
    def test_fails_in_the_guest():
        assert 1 == 2, "guest-side failure text"

    @pytest.mark.lab(modules=[])
    def test_skips_in_the_guest():
        pytest.skip("guest-side skip reason")

    @pytest.mark.lab(modules=[])
    def test_takes_its_time():
        time.sleep(1.5)

    @pytest.mark.lab(modules=[])
    @pytest.mark.parametrize("n", [1, 2])
    def test_parametrized(n):
        assert n in (1, 2)

    @pytest.mark.lab(modules=[])
    def test_deselected_never_runs():
        open("deselected-ran", "w").close()

    def test_on_the_host():
        assert "PTNET_IN_LAB" not in os.environ
    """
)


def test_outcomes_are_replayed_per_test(tmp_path):
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider"]
        + ["--durations=0", "--durations-min=0", "-k", "not deselected", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 1, out  # exactly the one failing guest test fails the run
    assert "PASSED test_sample.py::test_runs_in_the_guest" in out
    assert "PASSED test_sample.py::test_parametrized[1]" in out
    assert "PASSED test_sample.py::test_parametrized[2]" in out
    assert "PASSED test_sample.py::test_on_the_host" in out
    assert "FAILED test_sample.py::test_fails_in_the_guest" in out
    assert "guest-side failure text" in out
    assert "SKIPPED" in out and "guest-side skip reason" in out
    assert "1 failed, 5 passed, 1 skipped, 1 deselected" in out
    assert not (tmp_path / "deselected-ran").exists(), "a deselected test ran in the VM"
    # Durations are the guest's: the first test of the group does not carry the VM's boot.
    took = {
        m[1]: float(m[0])
        for m in re.findall(r"^([0-9.]+)s call +test_sample\.py::(\S+)$", out, re.M)
    }
    assert took["test_runs_in_the_guest"] < 1.0, out
    assert 1.5 <= took["test_takes_its_time"] < 3.0, out


RENDEZVOUS = textwrap.dedent(
    """
    import os
    import time
    import pytest

    def meet(me, other):
        open(me, "w").close()
        deadline = time.monotonic() + 120
        while not os.path.exists(other):
            assert time.monotonic() < deadline, "the other VM never came: the runs were serial"
            time.sleep(0.1)
        return open("/proc/sys/kernel/random/boot_id").read()

    @pytest.mark.lab(modules=[])
    def test_meets():
        me, other = ("{a}", "{b}") if __name__.endswith("one") else ("{b}", "{a}")
        open(me + ".boot", "w").write(meet(me, other))
    """
)


def test_a_group_is_split_across_the_host_cpus_and_its_vms_run_together(tmp_path):
    """Two files of one group go to two VMs (one per host CPU) that run at the same time: each
    test waits for the other to start."""
    if len(__import__("os").sched_getaffinity(0)) < 2:
        pytest.skip("needs two host CPUs")
    body = RENDEZVOUS.replace("{a}", str(tmp_path / "a")).replace("{b}", str(tmp_path / "b"))
    (tmp_path / "test_one.py").write_text(body)
    (tmp_path / "test_two.py").write_text(body)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout
    assert "2 passed" in proc.stdout
    boots = {(tmp_path / f"{n}.boot").read_text() for n in ("a", "b")}
    assert len(boots) == 2  # two guests, not one
