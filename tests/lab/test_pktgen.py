"""pkt-gen over netmap pipes, and the legacy nm_open() path of netmap_user.h, against netmap.ko.

The tools must be built on the host first (ptnet build tools): the guest sees the cache read-only.
"""

import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from nm import pktgen
from nm.port import Port

from ptnet import paths
from ptnet.build.tools import tool_path

UAPI = paths.source_root() / "kernel" / "include" / "uapi"


@pytest.mark.parametrize(("count", "length"), [(100_000, 60), (20_000, 1514), (5_000, 5000)])
def test_tx_rx_over_a_pipe(pname, count, length):
    """Every frame arrives in order with its pattern intact; 5000 bytes span three slots."""
    gen = str(tool_path("pkt-gen"))
    n = str(count)
    server = [gen, "-i", f"netmap:{pname}}}1", "-f", "rx", "-n", n, "--verify", "--json"]
    client = [gen, "-i", f"netmap:{pname}{{1", "-f", "tx", "-n", n, "-l", str(length)]
    client += ["--verify", "--json"]
    rx, tx = pktgen.exchange(pktgen.bound([*server, "--idle", "10"]), client)
    assert (tx["role"], tx["packets"], tx["bytes"]) == ("tx", count, count * length)
    assert (rx["role"], rx["packets"], rx["bytes"]) == ("rx", count, count * length)
    assert (rx["errors"], rx["lost"]) == (0, 0)
    assert tx["pps"] > 0 and rx["pps"] > 0


def test_ping_pong_over_a_pipe(pname):
    gen = str(tool_path("pkt-gen"))
    rounds, length = 500, 3000
    n = str(rounds)
    server = [gen, "-i", f"{pname}}}3", "-f", "pong", "-n", n, "--verify", "--json"]
    client = [gen, "-i", f"{pname}{{3", "-f", "ping", "-n", n, "-l", str(length), "--verify"]
    pong, ping = pktgen.exchange(pktgen.bound([*server, "--idle", "10"]), [*client, "--json"])
    assert (ping["packets"], ping["bytes"], ping["errors"]) == (rounds, rounds * length, 0)
    assert 0 <= ping["rtt_min_us"] <= ping["rtt_avg_us"] <= ping["rtt_max_us"]
    assert (pong["packets"], pong["errors"], pong["lost"]) == (rounds, 0, 0)


def test_one_thread_per_ring(pname):
    """-p 2 binds ring 0 and ring 1 (NR_REG_ONE_NIC) of a two-ring pipe on each side."""
    gen = str(tool_path("pkt-gen"))
    count = 40_000
    n = str(count)
    server = [gen, "-i", f"netmap:{pname}}}1@conf:rings=2", "-f", "rx", "-p", "2", "-n", n]
    client = [gen, "-i", f"netmap:{pname}{{1@conf:rings=2", "-f", "tx", "-p", "2", "-n", n]
    client.append("--verify")
    rx, tx = pktgen.exchange(
        pktgen.bound([*server, "--verify", "--json", "--idle", "10"], threads=2),
        [*client, "--json"],
    )
    assert tx["packets"] == count
    assert (rx["packets"], rx["errors"], rx["lost"]) == (count, 0, 0)


def test_paced_tx(pname):
    gen = str(tool_path("pkt-gen"))
    count, rate = 2000, 10_000
    n = str(count)
    server = [gen, "-i", f"{pname}}}1", "-f", "rx", "-n", n, "--verify", "--json"]
    client = [gen, "-i", f"{pname}{{1", "-f", "tx", "-n", n, "-R", str(rate), "-b", "8", "--json"]
    rx, tx = pktgen.exchange(pktgen.bound(server), client)
    assert (rx["packets"], rx["errors"]) == (count, 0)
    assert tx["seconds"] >= (count - 1) / rate * 0.95
    assert tx["pps"] <= rate * 1.05


@pytest.mark.parametrize("path", ["pipe", "vale"])
def test_busy_wait_moves_exact_counts(pname, path):
    """--busy-wait on both sides (NIOCTXSYNC/NIOCRXSYNC in a loop, no poll()): every frame
    arrives, in order; the reports say which loop ran. VALE drops what finds its receiver's
    ring full, so its sender is paced, as in test_vale."""
    gen = str(tool_path("pkt-gen"))
    count = 20_000
    n = str(count)
    if path == "pipe":
        tx_port, rx_port, pace = f"{pname}{{1", f"{pname}}}1", []
    else:
        tx_port, rx_port, pace = f"vale{pname}:a", f"vale{pname}:b@conf:slots=2048", ["-R", "20k"]
    busy = ["--busy-wait", "--verify", "--json"]
    server = [gen, "-i", rx_port, "-f", "rx", "-n", n, *busy, "--idle", "10"]
    client = [gen, "-i", tx_port, "-f", "tx", "-n", n, *pace, *busy]
    rx, tx = pktgen.exchange(pktgen.bound(server), client)
    assert (tx["role"], tx["packets"], tx["loop"]) == ("tx", count, "busy")
    assert (rx["role"], rx["packets"], rx["bytes"], rx["loop"]) == ("rx", count, count * 60, "busy")
    assert (rx["errors"], rx["lost"]) == (0, 0)


def test_poll_is_the_default_loop(pname):
    gen = str(tool_path("pkt-gen"))
    server = [gen, "-i", f"{pname}}}1", "-f", "rx", "-n", "100", "--json", "--idle", "10"]
    rx, tx = pktgen.exchange(
        pktgen.bound(server), [gen, "-i", f"{pname}{{1", "-f", "tx", "-n", "100", "--json"]
    )
    assert (tx["loop"], rx["loop"], rx["packets"]) == ("poll", "poll", 100)


def test_tx_numbers_its_frames_only_with_verify(pname):
    """Without --verify, tx writes each buffer once and leaves the frames unnumbered (sequence 0,
    stream 0xffff); with it, each frame carries its sequence number and the stream 0."""
    gen = str(tool_path("pkt-gen"))
    sw = f"vale{pname}"
    with Port.open(f"{sw}:rx") as rx:
        for extra, want in (([], [(0, 0xFFFF)] * 3), (["--verify"], [(0, 0), (1, 0), (2, 0)])):
            pktgen.run_json([gen, "-i", f"{sw}:tx", "-f", "tx", "-n", "3", "--json", *extra])
            rx.rxsync()
            frames = [b"".join(p) for p in rx.rx_rings[0].take()]
            assert [struct.unpack_from(">QH", f, 46) for f in frames] == want, extra


# Legacy NIOCREGIF through nm_open(), the way stock QEMU's backend and classic programs use it.
NM_OPEN_PROGRAM = r"""
#define NETMAP_WITH_LIBS
#include <net/netmap_user.h>
#include <poll.h>
#include <stdio.h>

static unsigned int seen_len[8];
static int seen;

static void cb(unsigned char *arg, const struct nm_pkthdr *h, const unsigned char *buf)
{
    (void)arg;
    (void)buf;
    if (seen < 8)
        seen_len[seen] = h->len;
    seen++;
}

#define FAIL(...) do { fprintf(stderr, __VA_ARGS__); return 1; } while (0)

int main(int argc, char **argv)
{
    struct nmreq req;
    struct nm_desc *tx, *rx, *child;
    struct nm_pkthdr h;
    struct pollfd pfd;
    static char frame[3000];
    unsigned int total = 0;
    unsigned char *p;
    char name[64];

    if (argc != 2)
        FAIL("usage: %s PIPE\n", argv[0]);
    memset(&req, 0, sizeof(req));
    snprintf(name, sizeof(name), "netmap:%s{1", argv[1]);
    tx = nm_open(name, &req, NETMAP_NO_TX_POLL, NULL);
    if (!tx)
        FAIL("nm_open %s: %s\n", name, strerror(errno));
    snprintf(name, sizeof(name), "%s}1", argv[1]);
    rx = nm_open(name, NULL, NETMAP_NO_TX_POLL | NETMAP_DO_RX_POLL, NULL);
    if (!rx)
        FAIL("nm_open %s: %s\n", name, strerror(errno));
    if (tx->first_tx_ring != 0 || tx->last_tx_ring != 0 || rx->req.nr_rx_slots == 0)
        FAIL("bad ring ranges\n");
    if (NETMAP_TXRING(tx->nifp, 0)->dir != NR_TX || NETMAP_RXRING(rx->nifp, 0)->dir != NR_RX)
        FAIL("bad ring directions\n");

    memset(frame, 0x5a, sizeof(frame));
    if (nm_inject(tx, frame, 60) != 60 || nm_inject(tx, frame, 61) != 61 ||
        nm_inject(tx, frame, sizeof(frame)) != (int)sizeof(frame))
        FAIL("nm_inject failed\n");
    if (ioctl(tx->fd, NIOCTXSYNC, NULL))
        FAIL("NIOCTXSYNC: %s\n", strerror(errno));
    pfd.fd = rx->fd;
    pfd.events = POLLIN;
    if (poll(&pfd, 1, 5000) != 1)
        FAIL("poll: nothing arrived\n");
    if (nm_dispatch(rx, 2, cb, NULL) != 2 || seen_len[0] != 60 || seen_len[1] != 61)
        FAIL("nm_dispatch: %d packets\n", seen);
    while ((p = nm_nextpkt(rx, &h)) != NULL) {
        if (memcmp(p, frame, h.len))
            FAIL("corrupt fragment\n");
        total += h.len;
    }
    if (total != sizeof(frame))
        FAIL("nm_nextpkt: %u bytes\n", total);

    snprintf(name, sizeof(name), "netmap:%s{2", argv[1]);
    child = nm_open(name, NULL, NM_OPEN_NO_MMAP, tx);
    if (!child || child->mem != tx->mem || child->done_mmap)
        FAIL("NM_OPEN_NO_MMAP did not share the mapping\n");
    nm_close(child);
    nm_close(rx);
    nm_close(tx);
    puts("ok");
    return 0;
}
"""


def test_nm_open_on_a_pipe(pname, tmp_path: Path):
    cc = shutil.which("gcc")
    if cc is None:
        pytest.skip("no gcc in the lab guest")
    src = tmp_path / "nm_open_pipe.c"
    src.write_text(NM_OPEN_PROGRAM)
    exe = tmp_path / "nm_open_pipe"
    build = subprocess.run(
        [cc, "-std=gnu11", "-O1", "-Wall", "-Wextra", "-Werror", f"-I{UAPI}", "-o", exe, src],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    run = subprocess.run([exe, pname], capture_output=True, text=True, timeout=30)
    assert (run.returncode, run.stdout) == (0, "ok\n"), run.stderr
