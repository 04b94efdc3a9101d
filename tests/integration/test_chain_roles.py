"""How `ptnet chain` runs an NF's role in its guest, on a real guest booted from the fw image
(no netmap port: this runs on any host, under TCG): started detached over SSH, seen running
with exactly its command line, its failure reported with the program's own message, its stats
read back, and stopped."""

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from ptnet.chain import lifecycle
from ptnet.errors import PtnetError
from ptnet.lab import kernel
from ptnet.model.vm import VmSpec
from ptnet.vm import lifecycle as vms

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not kernel.cached() or shutil.which("qemu-system-x86_64") is None,
        reason="needs a cached lab kernel (ptnet kernel fetch) and qemu-system-x86",
    ),
]

VM = "nfrole"


@pytest.fixture(scope="module")
def guest():
    with pytest.MonkeyPatch.context() as mp:
        state = Path(tempfile.mkdtemp(prefix="ptnet-t-"))
        mp.setenv("PTNET_STATE_DIR", str(state / "s"))
        mp.setenv("PTNET_RUNTIME_DIR", str(state / "r"))
        vms.up(VmSpec(name=VM, image="fw", mem_mb=160))
        try:
            yield
        finally:
            vms.down(VM)
            shutil.rmtree(state, ignore_errors=True)


def nf(command: list[str]) -> lifecycle.NfRecord:
    return lifecycle.NfRecord(
        name="fw",
        role="fw",
        trust="trusted",
        vm=VM,
        backend="qemu",
        spec={},
        command=command,
        ports=[],
        devs=["eth1", "eth2"],
    )


def test_a_role_that_cannot_start_is_reported_with_its_own_message(guest):
    fw = nf(["nf-fw", "-i", "netmap:eth1", "-o", "netmap:eth2", "--stats", lifecycle.STATS])
    with pytest.raises(
        PtnetError, match="role fw did not start in VM nfrole: nf-fw: error: .*eth1"
    ):
        lifecycle.start_role(fw)
    assert not lifecycle.role_running(fw)


def test_a_role_runs_detached_with_its_command_writes_stats_and_stops(guest):
    loop = "while :; do sleep 1; done"
    role = nf(["sh", "-c", loop, "a b"])  # an argument with a space is compared whole
    lifecycle.start_role(role)
    # Seen from a later SSH session: it outlived the one that started it.
    assert lifecycle.role_running(role)
    assert not lifecycle.role_running(nf(["sh", "-c", loop, "a", "b"]))
    stats = {"role": "fw", "ports": {"in": {"rx": 3, "tx": 2, "drop": 1}}}
    lifecycle.guest(VM, f"echo '{json.dumps(stats)}' > {lifecycle.STATS}")
    assert lifecycle.nf_stats(role) == stats
    # Started again (a changed command): the old process goes, one runs.
    lifecycle.start_role(role)
    count = lifecycle.guest(VM, "ps | grep -c '[w]hile :'").stdout.decode().strip()
    assert count == "1"
    lifecycle.stop_role(VM)
    assert not lifecycle.role_running(role)
