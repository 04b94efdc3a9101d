"""The user-space tools and headers: `ptnet build tools`, `ptnet build headers`, netmap_user.h.

Real builds: the tools go into the real cache (incremental, like `ptnet build modules`), the
header programs into tmp_path.
"""

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ptnet import paths
from ptnet.build import tools
from ptnet.errors import UsageError

ROOT = paths.source_root()
UAPI = ROOT / "kernel" / "include" / "uapi"
HEADER_TEST = ROOT / "kernel" / "tools" / "tests" / "user_header_test.c"
WARN = ["-Wall", "-Wextra", "-Werror"]
# The warnings stock QEMU builds with (meson's warning_flags), on top of -Wall.
QEMU_WARN = [
    "-Wundef", "-Wwrite-strings", "-Wmissing-prototypes", "-Wstrict-prototypes",
    "-Wold-style-declaration", "-Wold-style-definition", "-Wtype-limits", "-Wformat-security",
    "-Wformat-y2k", "-Winit-self", "-Wignored-qualifiers", "-Wempty-body", "-Wnested-externs",
    "-Wendif-labels", "-Wexpansion-to-defined", "-Wimplicit-fallthrough=2",
]  # fmt: skip


def _ptnet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ptnet", *args], capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def built() -> dict[str, Path]:
    proc = _ptnet("build", "tools")
    assert proc.returncode == 0, proc.stderr
    got = [Path(line) for line in proc.stdout.splitlines()]
    assert got == [tools.tools_dir() / name for name in tools.TOOLS]
    return {p.name: p for p in got}


def _elf_segments(path: Path) -> set[int]:
    """The program header types of a 64-bit little-endian ELF executable."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, f"{path} is not ELF64 LE"
    phoff = struct.unpack_from("<Q", data, 0x20)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return {struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)}


PT_DYNAMIC, PT_INTERP = 2, 3


def test_tools_are_static_binaries_in_the_cache(built: dict[str, Path]) -> None:
    for path in built.values():
        assert path.is_relative_to(paths.builds_dir())
        assert os.access(path, os.X_OK)
        segments = _elf_segments(path)
        assert PT_INTERP not in segments and PT_DYNAMIC not in segments, f"{path} is dynamic"
    leftovers = [
        p
        for p in (ROOT / "kernel" / "tools").rglob("*")
        if p.suffix in (".o", ".d") or p.name in tools.TOOLS
    ]
    assert leftovers == []


def test_tools_build_is_incremental(built: dict[str, Path]) -> None:
    before = {name: p.stat().st_mtime_ns for name, p in built.items()}
    proc = _ptnet("build", "tools")
    assert proc.returncode == 0, proc.stderr
    assert " -c " not in proc.stderr  # nothing recompiled
    assert {name: p.stat().st_mtime_ns for name, p in built.items()} == before


def test_tools_built_from_another_checkout_are_rebuilt(tmp_path: Path) -> None:
    # A cache first filled from a checkout that is gone: its objects' dependency files name
    # sources that no longer exist, and make would stop with "No rule to make target".
    env = {**os.environ, "PTNET_CACHE_DIR": str(tmp_path)}
    argv = [sys.executable, "-m", "ptnet", "build", "tools"]
    assert subprocess.run(argv, env=env, capture_output=True).returncode == 0
    out = tmp_path / "build" / "tools"
    gone = "/nonexistent/checkout/kernel/tools"
    (out / ".source").write_text(gone)
    dep = out / "gen.d"
    dep.write_text(dep.read_text().replace(str(ROOT / "kernel" / "tools"), gone))
    # Meanwhile every tool stays readable in full: an image build or a lab reading it now sees
    # the old binary or the new one, never none and never a partial one.
    seen: list[str] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for name in tools.TOOLS:
                try:
                    head = (out / name).read_bytes()[:4]
                except FileNotFoundError:
                    seen.append(f"{name} missing")
                    continue
                if head != b"\x7fELF":
                    seen.append(f"{name} partial")
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    finally:
        done.set()
        watcher.join()
    assert proc.returncode == 0, proc.stderr
    assert " -c " in proc.stderr and gone not in (out / "gen.d").read_text()
    assert seen == []
    assert not list(out.glob("*.tmp"))


def test_tool_path(built: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    assert tools.tool_path("pkt-gen") == built["pkt-gen"]
    with pytest.raises(UsageError, match="unknown tool"):
        tools.tool_path("no-such-tool")
    monkeypatch.setenv("PTNET_CACHE_DIR", str(tmp_path))
    with pytest.raises(UsageError, match="run: ptnet build tools"):
        tools.tool_path("afpacket-gen")


BAD_ARGS = [
    ["-l", "10", "-i", "x"],
    ["-l", "65536", "-i", "x"],
    ["-q", "-i", "x"],
    ["--bogus", "-i", "x"],
    ["-i"],
    [],
    ["-f", "bogus", "-i", "x"],
    ["-i", "x", "stray"],
    ["-i", "x", "-n", "-1"],
    ["-i", "x", "-b", "0"],
    ["-i", "x", "-R", "fast"],
    ["-i", "x", "-R", "0"],
    ["-i", "x", "-f", "rx", "-R", "1000"],
    ["-i", "x", "-p", "0"],
    ["-i", "x", "-a", "cpu0"],
    ["-i", "x", "-D", "zz:zz"],
    ["-i", "x", "-S", "01:02:03"],
    ["-i", "x", "-d", "10.0.0"],
    ["-i", "x", "-s", "10.0.0.1-10.0.0.9"],
    ["-i", "x", "-d", "10.0.0.1:70000"],
    ["-i", "x", "--idle", "0"],
    ["-i", "x", "--timeout", "soon"],
    ["-i", "x", "-f", "ping", "-b", "4"],
    ["-i", "x", "-f", "pong", "-p", "2"],
]
TOOL_BAD_ARGS = [
    ("pkt-gen", ["-i", "netmap:pipe{"]),  # an empty pipe id
    ("pkt-gen", ["-i", "netmap:eth0/q"]),
    ("pkt-gen", ["-i", "vale0:", "-f", "tx"]),
    ("pkt-gen", ["-i", "x", "-p", "65"]),
    ("afpacket-gen", ["-i", "x", "-p", "2"]),
    ("afpacket-gen", ["-i", "an-interface-name-too-long"]),
    ("afpacket-gen", ["-i", "x", "--busy-wait"]),  # one loop style: pkt-gen's switch only
    ("nm-kloop-test", ["-i", "x", "--busy-wait"]),
    ("nm-kloop-test", ["-i", "x", "--mode", "bogus"]),
    ("nm-kloop-test", ["-i", "x", "--sleep-us", "-5"]),
    ("nm-kloop-test", ["-i", "x", "--mode"]),
    ("nm-kloop-test", ["-i", "x", "-f", "ping"]),
    ("nm-kloop-test", ["-i", "x", "--hostile"]),
    ("nm-kloop-test", ["-i", "x", "--peer-rate", "0"]),
    ("vale-ctl", ["-a", "vale0:" + "x" * 58]),  # names the kernel judges, unless too long
    ("vale-ctl", ["-n", "x" * 64]),
    ("vale-ctl", ["-a", "vale0:x", "-d", "vale0:x"]),
    ("vale-ctl", ["-n", "x", "-C", "1,2,3,4,5"]),
    ("bridge", ["-L", "netmap:a"]),
    ("bridge", ["-L", "netmap:a=netmap:b", "-i", "netmap:c"]),
    ("bridge", ["-L", ";".join(f"netmap:a{i}=netmap:b{i}" for i in range(17))]),
    ("bridge", ["-i", "netmap:a{{"]),
    ("ring-limit", ["-b", "1025"]),
    ("ring-limit", ["-l", "2049"]),
    ("ring-limit", ["--timeout", "0"]),
    ("ring-limit", ["-n"]),
]
# Tools for which no argument at all is a valid command (vale-ctl lists the switches,
# ring-limit runs for 3 s).
NO_ARGS_OK = {"vale-ctl", "ring-limit"}


@pytest.mark.parametrize(
    ("tool", "args"),
    [(t, a) for t in tools.TOOLS for a in BAD_ARGS if a or t not in NO_ARGS_OK] + TOOL_BAD_ARGS,
    ids=lambda v: " ".join(v) if isinstance(v, list) else v,
)
def test_bad_options_exit_2_with_one_line(built: dict[str, Path], tool: str, args) -> None:
    proc = subprocess.run([built[tool], *args], capture_output=True, text=True, timeout=10)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{tool}: error: "), proc.stderr


@pytest.mark.parametrize("tool", ["pkt-gen", "afpacket-gen", "nm-kloop-test"])
def test_traffic_tools_help(built: dict[str, Path], tool: str) -> None:
    proc = subprocess.run([built[tool], "-h"], capture_output=True, text=True, timeout=10)
    assert proc.returncode == 0
    assert proc.stdout.startswith(f"Usage: {tool} -i PORT") and "--verify" in proc.stdout


def test_pkt_gen_help_names_both_loop_styles(built: dict[str, Path]) -> None:
    proc = subprocess.run([built["pkt-gen"], "-h"], capture_output=True, text=True, timeout=10)
    assert "  --busy-wait      loop on NIOCTXSYNC/NIOCRXSYNC without poll()" in proc.stdout
    other = subprocess.run([built["afpacket-gen"], "-h"], capture_output=True, text=True)
    assert "--busy-wait" not in other.stdout


@pytest.mark.skipif(Path("/dev/netmap").exists(), reason="/dev/netmap exists here")
def test_pkt_gen_takes_busy_wait_as_a_switch(built: dict[str, Path]) -> None:
    """--busy-wait parses (no usage error): the run goes as far as opening the port."""
    proc = subprocess.run(
        [built["pkt-gen"], "-i", "netmap:pipeA{1", "-f", "tx", "--busy-wait"],
        capture_output=True, text=True, timeout=10,
    )  # fmt: skip
    assert proc.returncode == 1 and "cannot open /dev/netmap" in proc.stderr


def test_ring_limit_moves_exact_counts_without_the_module(built: dict[str, Path]) -> None:
    """The user-space limit runs on the host: every frame sent is received, and the report has
    pkt-gen's --json shape with loop "limit"."""
    count = 200_000
    proc = subprocess.run(
        [built["ring-limit"], "-n", str(count), "-l", "60", "-a", "0", "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert (rep["role"], rep["loop"], rep["packets"], rep["bytes"]) == (
        "rx", "limit", count, count * 60
    )  # fmt: skip
    assert (rep["errors"], rep["lost"]) == (0, 0)
    assert rep["pps"] > 0 and rep["tx_pps"] > 0 and rep["seconds"] > 0
    assert set(rep) >= {"role", "packets", "bytes", "seconds", "pps", "bps", "errors", "lost"}
    assert "Sent 200000, received 200000 packets" in proc.stderr


def test_ring_limit_runs_for_its_timeout(built: dict[str, Path]) -> None:
    proc = subprocess.run(
        [built["ring-limit"], "--timeout", "0.3", "-b", "64", "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["packets"] > 0 and 0.1 < rep["seconds"] < 5


def test_ring_limit_help(built: dict[str, Path]) -> None:
    proc = subprocess.run([built["ring-limit"], "-h"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("Usage: ring-limit [options]")


@pytest.mark.parametrize(("tool", "flag"), [("vale-ctl", "--help"), ("bridge", "-h")])
def test_control_tools_help(built: dict[str, Path], tool: str, flag: str) -> None:
    # vale-ctl's -h means "attach with the host stack", as in netmap's vale-ctl.
    proc = subprocess.run([built[tool], flag], capture_output=True, text=True, timeout=10)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.lower().startswith(f"usage: {tool}")


@pytest.mark.skipif(Path("/dev/netmap").exists(), reason="/dev/netmap exists here")
def test_pkt_gen_without_netmap_fails_in_one_line(built: dict[str, Path]) -> None:
    proc = subprocess.run(
        [built["pkt-gen"], "-i", "netmap:pipeA{1", "-f", "tx", "-n", "1"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert proc.returncode == 1
    assert proc.stderr == (
        "pkt-gen: error: cannot open /dev/netmap for pipeA{1: No such file or directory\n"
    )


def test_afpacket_gen_unknown_interface(built: dict[str, Path]) -> None:
    proc = subprocess.run(
        [built["afpacket-gen"], "-i", "ptnet-nosuch", "-f", "rx"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert proc.returncode == 1
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("afpacket-gen: error: ")


@pytest.mark.skipif(os.geteuid() != 0, reason="AF_PACKET needs root")
def test_afpacket_report_format(built: dict[str, Path]) -> None:
    """Five frames to the local discard port on lo: pkt-gen's report lines, then --json."""
    argv = [built["afpacket-gen"], "-i", "lo", "-f", "tx", "-n", "5", "-l", "100"]
    argv += ["-s", "127.0.0.1:9", "-d", "127.0.0.1:9", "-D", "00:00:00:00:00:00"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    first, speed = proc.stdout.splitlines()
    assert re.fullmatch(
        r"Sent 5 packets 500 bytes 5 events 100 bytes each in \d+\.\d\d seconds\.", first
    )
    unit = r"\d+\.\d{3} [KMGT]?"
    assert re.fullmatch(
        rf"Speed: {unit}pps Bandwidth: {unit}bps \(raw {unit}bps\)\. Average batch: 1\.00 pkts",
        speed,
    )
    proc = subprocess.run([*argv, "-N", "--json"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^Speed: \d+ pps Bandwidth: \d+ bps", proc.stderr, re.MULTILINE)
    report = json.loads(proc.stdout)
    assert {k: report[k] for k in ("role", "packets", "bytes", "errors")} == {
        "role": "tx",
        "packets": 5,
        "bytes": 500,
        "errors": 0,
    }
    assert report["seconds"] >= 0 and report["pps"] >= 0 and report["bps"] >= 0


def _compile(argv: list[str], cwd: Path) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("compiler", "std"), [("gcc", "-std=c11"), ("g++", "-std=c++17")], ids=["c11", "c++17"]
)
def test_user_header_compiles_and_works(compiler: str, std: str, tmp_path: Path) -> None:
    """Every macro and helper of netmap_user.h, with -Werror; the program checks them on a
    region it builds in memory."""
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    exe = tmp_path / "user_header_test"
    lang = ["-x", "c++"] if compiler == "g++" else []
    flags = [std, "-O2", *WARN, f"-I{UAPI}"]
    _compile([compiler, *lang, *flags, "-o", str(exe), str(HEADER_TEST)], tmp_path)
    proc = subprocess.run([exe], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(r"netmap_user\.h: \d+ checks passed\n", proc.stdout)


# A program in the shape of stock QEMU's netmap backend (net/netmap.c): the same headers, macros,
# helpers and legacy requests, written here.
QEMU_LIKE = r"""
#define _GNU_SOURCE
#include <inttypes.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#define NETMAP_WITH_LIBS
#include <net/netmap.h>
#include <net/netmap_user.h>
#if (NETMAP_API < 11) || (NETMAP_API > 15)
#error unsupported NETMAP_API
#endif

struct backend {
    struct nm_desc *nmd;
    struct netmap_ring *tx, *rx;
    char ifname[IFNAMSIZ];
};

static int backend_open(struct backend *b, const char *ifname)
{
    struct nmreq req;

    memset(&req, 0, sizeof(req));
    b->nmd = nm_open(ifname, &req, NETMAP_NO_TX_POLL, NULL);
    if (b->nmd == NULL)
        return -1;
    b->tx = NETMAP_TXRING(b->nmd->nifp, 0);
    b->rx = NETMAP_RXRING(b->nmd->nifp, 0);
    return b->nmd->fd;
}

static ssize_t backend_send(struct backend *b, const struct iovec *iov, int iovcnt)
{
    struct netmap_ring *ring = b->tx;
    uint32_t i = ring->head, last = i;
    int j;

    if (nm_ring_space(ring) < (uint32_t)iovcnt) {
        ring->cur = ring->tail;
        return 0;
    }
    for (j = 0; j < iovcnt; j++) {
        uint8_t *dst = (uint8_t *)NETMAP_BUF(ring, ring->slot[i].buf_idx);

        memcpy(dst, iov[j].iov_base, iov[j].iov_len);
        ring->slot[i].len = iov[j].iov_len;
        ring->slot[i].flags = NS_MOREFRAG;
        last = i;
        i = nm_ring_next(ring, i);
    }
    ring->slot[last].flags &= ~NS_MOREFRAG;
    ring->head = ring->cur = i;
    return ioctl(b->nmd->fd, NIOCTXSYNC, NULL);
}

static int backend_receive(struct backend *b)
{
    struct netmap_ring *ring = b->rx;
    int n = 0;

    while (!nm_ring_empty(ring)) {
        bool morefrag = ring->slot[ring->cur].flags & NS_MOREFRAG;

        (void)NETMAP_BUF(ring, ring->slot[ring->cur].buf_idx);
        ring->cur = ring->head = nm_ring_next(ring, ring->cur);
        n += !morefrag;
    }
    return n;
}

static int backend_set_vnet_hdr_len(struct backend *b, int len)
{
    struct nmreq req;

    memset(&req, 0, sizeof(req));
    memcpy(req.nr_name, b->ifname, strnlen(b->ifname, sizeof(req.nr_name) - 1));
    req.nr_version = NETMAP_API;
    req.nr_cmd = NETMAP_BDG_VNET_HDR;
    req.nr_arg1 = len;
    return ioctl(b->nmd->fd, NIOCREGIF, &req);
}

int main(int argc, char **argv)
{
    struct backend b;
    struct iovec iov = { argv[0], 10 };

    memset(&b, 0, sizeof(b));
    if (argc > 1) {
        snprintf(b.ifname, sizeof(b.ifname), "%s", argv[1]);
        if (backend_open(&b, argv[1]) < 0) {
            perror("nm_open");
            return 3;
        }
        backend_set_vnet_hdr_len(&b, 10);
        backend_send(&b, &iov, 1);
        backend_receive(&b);
        nm_close(b.nmd);
    }
    return 0;
}
"""


def test_installed_headers_build_a_qemu_like_program(run_ptnet, tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    proc = run_ptnet("build", "headers", "--prefix", str(prefix))
    assert proc.returncode == 0, proc.stderr
    include = Path(proc.stdout.strip())
    assert include == prefix.resolve() / "include"
    for name in tools.HEADERS:
        assert (include / "net" / name).read_bytes() == (UAPI / "net" / name).read_bytes()
    src = tmp_path / "netmap_backend.c"
    src.write_text(QEMU_LIKE)
    exe = tmp_path / "netmap_backend"
    _compile(
        ["gcc", "-std=gnu11", "-O2", *WARN, *QEMU_WARN, f"-I{include}", "-o", str(exe), str(src)],
        tmp_path,
    )
    assert subprocess.run([exe], timeout=10).returncode == 0
    if not Path("/dev/netmap").exists():
        proc = subprocess.run([exe, "vale0:1"], capture_output=True, text=True, timeout=10)
        assert proc.returncode == 3 and "No such file or directory" in proc.stderr


def test_headers_default_prefix_and_reinstall(run_ptnet, tmp_path: Path) -> None:
    env = {"PTNET_CACHE_DIR": str(tmp_path)}
    proc = run_ptnet("build", "headers", env=env)
    assert proc.returncode == 0, proc.stderr
    include = Path(proc.stdout.strip())
    assert include == tmp_path.resolve() / "build" / "headers" / "include"
    stamps = {p.name: p.stat().st_mtime_ns for p in (include / "net").iterdir()}
    assert sorted(stamps) == sorted(tools.HEADERS)
    assert run_ptnet("build", "headers", env=env).returncode == 0
    assert {p.name: p.stat().st_mtime_ns for p in (include / "net").iterdir()} == stamps


def test_headers_unwritable_prefix_is_a_usage_error(run_ptnet, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = run_ptnet("build", "headers", "--prefix", str(blocker))
    assert proc.returncode == 2
    assert proc.stderr.startswith("ptnet: error: cannot install the headers")
