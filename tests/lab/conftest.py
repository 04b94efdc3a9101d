"""Lab tests: every test here runs inside the lab VM (netmap.ko loaded) unless it says otherwise.

- Each test without its own `lab` marker gets `pytest.mark.lab` (the plugin's default: netmap).
- Tests marked `netmap_last` run after all others of the session (module unload, dmesg); the
  plugin puts them at the end of every VM of their group.
- An autouse fixture checks that the module's leak counters are back to their idle values
  after each test, once the test's descriptors are closed.
"""

import gc
import itertools
import os
import signal
import subprocess
from pathlib import Path

import pytest
from nm import counters, kmsg

from ptnet.build import qemu
from ptnet.errors import UsageError

TEST_TIMEOUT = 120.0  # seconds per test; a hung syscall must not eat the whole lab run


def pytest_configure(config):
    config.addinivalue_line("markers", "netmap_last: run after every other lab test")
    config.addinivalue_line("markers", "timeout(seconds): this test's time limit in the lab")


class LabTimeout(Exception):
    pass


@pytest.fixture(autouse=True)
def time_limit(request):
    """Interrupt the test (even inside a blocking syscall) after its time limit."""
    marker = request.node.get_closest_marker("timeout")
    limit = float(marker.args[0]) if marker else TEST_TIMEOUT

    def expire(signum, frame):
        raise LabTimeout(f"test exceeded {limit:g} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, limit)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    here = __file__.rsplit("/", 1)[0] + "/"
    for item in items:
        if str(item.path).startswith(here) and item.get_closest_marker("lab") is None:
            item.add_marker(pytest.mark.lab)
    last = [i for i in items if i.get_closest_marker("netmap_last")]
    if last:
        items[:] = [i for i in items if not i.get_closest_marker("netmap_last")] + last


@pytest.fixture(scope="session")
def idle_counters():
    """The leak counters as the freshly loaded module shows them, before any test used it."""
    if not counters.loaded():
        return {}
    return counters.snapshot()


@pytest.fixture(scope="session")
def kernel_log():
    """A /dev/kmsg reader, so each test sees the kernel messages it caused."""
    if not counters.loaded():
        yield None
        return
    k = kmsg.Kmsg()
    yield k
    k.close()


@pytest.fixture(autouse=True)
def no_leaks(request, idle_counters, kernel_log):
    """After the test, the kernel log has no BUG/WARNING/Oops lines and every leak counter is
    back at its idle value."""
    if kernel_log is not None:
        kernel_log.new()
    yield
    problems = []
    if counters.loaded() and not request.node.get_closest_marker("netmap_last"):
        gc.collect()  # ports dropped without close() release their fd in a finalizer
        now = counters.wait_idle(idle_counters)
        leaked = {k: (v, now.get(k)) for k, v in idle_counters.items() if now.get(k) != v}
        if leaked:
            problems.append(f"leak counters not back to idle (idle, now): {leaked}")
    if kernel_log is not None:
        bad = kmsg.bad_lines(kernel_log.new())
        if bad:
            problems.append("kernel log:\n" + "\n".join(bad))
    assert not problems, "\n".join(problems)


_names = itertools.count()


@pytest.fixture
def pname():
    """A fresh pipe parent name for this test (short enough for IFNAMSIZ with a pipe suffix)."""
    return f"t{next(_names)}"


@pytest.fixture(scope="session")
def qemu_binary() -> Path:
    """Our patched QEMU: the one `ptnet build qemu` made, or PTNET_TEST_QEMU (a tree under
    development). Skipped when neither exists; a QEMU without our devices is an error."""
    override = os.environ.get("PTNET_TEST_QEMU")
    try:
        binary = Path(override) if override else qemu.binary_path()
    except UsageError as exc:
        pytest.skip(str(exc))
    out = subprocess.run([str(binary), "-device", "help"], capture_output=True, text=True)
    if '"ptnet-pci"' not in out.stdout:
        pytest.fail(f"{binary} has no ptnet-pci device: rebuild it with `ptnet build qemu`")
    return binary
