"""Traffic driven by the CSB and the sync kloop, with nm-kloop-test (kernel/tools/): every mode,
both directions, every byte checked; pkt-gen on the other end; the hostile guest.

The tools must be built on the host first (ptnet build tools): the guest sees the cache read-only.
"""

from pathlib import Path

import pytest
from nm import counters, pktgen

from ptnet.build.tools import tool_path

MODES = ["sleep", "eventfd", "direct-tx", "direct-rx"]


def _kloop_test(*args: str) -> list[str]:
    return [str(tool_path("nm-kloop-test")), *args, "--json"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("role", ["tx", "rx"])
def test_pipe_driven_by_the_csb(pname, mode, role):
    """The guest sends (or receives) through the CSB; a peer thread on the other end uses ioctl
    syncs; both check every frame and its sequence number."""
    n = 20_000
    out = pktgen.run_json(
        _kloop_test(
            "-i", f"{pname}{{1", "--peer", f"{pname}}}1", "-f", role, "-n", str(n),
            "--mode", mode, "--verify", "-l", "200",
        )
    )  # fmt: skip
    assert (out["role"], out["mode"], out["kloop_errno"]) == (role, mode, 0)
    assert (out["packets"], out["bytes"], out["errors"], out["lost"]) == (n, n * 200, 0, 0)
    peer = out["peer"]
    assert (peer["packets"], peer["errors"], peer["lost"]) == (n, 0, 0)
    assert out["kloop_errors"] == 0
    assert out["pps"] > 0
    if mode == "sleep":
        assert out["kicks"] == 0


@pytest.mark.parametrize("mode", ["eventfd", "direct-tx"])
def test_multi_ring_multi_slot_frames(pname, mode):
    """Three ring pairs, 3000-byte frames over two slots each: ring k is stream k."""
    n = 9_000
    for pipe, role in enumerate(("tx", "rx"), start=1):
        out = pktgen.run_json(
            _kloop_test(
                "-i", f"{pname}{{{pipe}@conf:rings=3", "--peer", f"{pname}}}{pipe}",
                "-f", role, "-n", str(n), "--mode", mode, "--verify", "-l", "3000",
            )
        )  # fmt: skip
        assert (out["packets"], out["errors"], out["lost"]) == (n, 0, 0), role
        assert (out["peer"]["packets"], out["peer"]["errors"]) == (n, 0), role


@pytest.mark.parametrize("mode", ["eventfd", "direct-rx"])
def test_kloop_tx_to_pktgen_rx(pname, mode):
    n = 50_000
    gen = str(tool_path("pkt-gen"))
    rx = pktgen.bound(
        [gen, "-i", f"{pname}}}1", "-f", "rx", "-n", str(n), "--verify", "--json", "--idle", "10"]
    )
    with pktgen.reaped(rx):
        tx = pktgen.run_json(
            _kloop_test("-i", f"{pname}{{1", "-f", "tx", "-n", str(n), "--mode", mode)
        )
        got = pktgen.report(rx, timeout=60)
    assert (tx["packets"], tx["kloop_errno"]) == (n, 0)
    assert (got["packets"], got["errors"], got["lost"]) == (n, 0, 0)


def test_pktgen_tx_to_kloop_rx(pname):
    n = 50_000
    gen = str(tool_path("pkt-gen"))
    cmd = _kloop_test("-i", f"{pname}{{1", "-f", "rx", "-n", str(n), "--verify", "--idle", "10")
    got, _ = pktgen.exchange(
        pktgen.spawn(cmd),
        [gen, "-i", f"{pname}}}1", "-f", "tx", "-n", str(n), "-w", "1", "--verify", "--json"],
        server_timeout=60,
    )
    assert (got["packets"], got["errors"], got["lost"], got["kloop_errno"]) == (n, 0, 0, 0)


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    ("mode", "role", "iterations"),
    [
        ("eventfd", "tx", 1_000_000),
        ("direct-tx", "rx", 300_000),
        ("direct-rx", "tx", 300_000),
        ("sleep", "rx", 300_000),
    ],
)
def test_hostile_guest(pname, mode, role, iterations):
    """Random heads, curs, buffer indices, lengths, flags and even ktoa: the kernel counts the
    bad entries, resets the rings and keeps serving; no warning, no oops, no leak (the fixtures
    check the kernel log and the counters; test_unload.py unloads the module at the end)."""
    errors0 = counters.read("kloop_errors")
    out = pktgen.run_json(
        _kloop_test(
            "-i", f"{pname}{{1", "--peer", f"{pname}}}1", "-f", role, "--mode", mode,
            "--hostile", "-n", str(iterations), "--seed", str(iterations + len(mode)),
        ),
        timeout=200,
    )  # fmt: skip
    assert (out["iterations"], out["kloop_errno"]) == (iterations, 0)
    assert counters.read("kloop_errors") > errors0
    # the same pipe works normally afterwards
    n = 2_000
    again = pktgen.run_json(
        _kloop_test("-i", f"{pname}{{1", "--peer", f"{pname}}}1", "-f", "tx", "-n", str(n),
                    "--mode", mode, "--verify")
    )  # fmt: skip
    assert (again["packets"], again["peer"]["packets"], again["peer"]["errors"]) == (n, n, 0)


def test_tool_is_built():
    assert Path(tool_path("nm-kloop-test")).is_file()


def _vale_available() -> bool:
    from nm import Port

    try:
        Port.open("valekprobe:x").close()
    except OSError:
        return False
    return True


@pytest.mark.parametrize("mode", ["sleep", "eventfd", "direct-tx", "direct-rx"])
@pytest.mark.parametrize("role", ["tx", "rx"])
def test_vale_port_driven_by_the_csb(pname, mode, role):
    """A VALE port behind the CSB; the peer is another port of the switch. VALE drops what an
    rx ring cannot take: fewer frames than the receiving ring holds, paced, lose none however
    late the receiver runs. (VALE syncs toggle BHs: DIRECT modes fall back to the loop.)"""
    if not _vale_available():
        pytest.skip("no VALE in this netmap.ko")
    n, rate = 1_000, "5000"  # the rings have 1024 slots
    pace = ["-R", rate] if role == "tx" else ["--peer-rate", rate]
    out = pktgen.run_json(
        _kloop_test(
            "-i", f"vale{pname}:g", "--peer", f"vale{pname}:p", "-f", role, "-n", str(n),
            "--mode", mode, "--verify", *pace,
        )
    )  # fmt: skip
    assert (out["packets"], out["errors"], out["lost"], out["kloop_errno"]) == (n, 0, 0, 0)
    assert (out["peer"]["packets"], out["peer"]["errors"], out["peer"]["lost"]) == (n, 0, 0)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("mode", ["eventfd", "direct-tx"])
def test_hostile_guest_on_vale(pname, mode):
    """The hostile guest behind a VALE port: VALE copies, so it reads and writes buffers the
    guest names; the core's checks must keep it inside the region."""
    if not _vale_available():
        pytest.skip("no VALE in this netmap.ko")
    errors0 = counters.read("kloop_errors")
    out = pktgen.run_json(
        _kloop_test(
            "-i", f"vale{pname}:g", "--peer", f"vale{pname}:p", "-f", "tx", "--mode", mode,
            "--hostile", "-n", "300000", "--seed", "7",
        ),
        timeout=200,
    )  # fmt: skip
    assert (out["iterations"], out["kloop_errno"]) == (300_000, 0)
    assert counters.read("kloop_errors") > errors0
