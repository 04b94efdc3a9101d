"""`ptnet chain bench`: Mpps through chains of 1, 2, 3... NFs, all-pipe against all-VALE links.

Each link kind gets one chain that grows: NF k takes the in end of hop k-1 and the out end of
hop k, so a chain of n+1 NFs is the chain of n with one more VM, and the converging create
keeps the n VMs that already run (each VM boots once per link kind). Every NF runs the
`bridge` tool between its two ports: the plainest forwarder, so the figures are those of the
links. pkt-gen sends into the ingress host port for a fixed time, at full speed, and receives at
the egress host port of the current length; the Mpps is what arrived, over the receive time.

    pipe: ingress X{0 -> NF1 (X}0, X{1) -> NF2 (X}1, X{2) -> ... -> X}n egress
    vale: hop k is a switch of its own, valeXk, with ports valeXk:l (left) and valeXk:r (right)

Absolute figures under TCG mean little; the pipe/VALE ratio at each length, from one run, is the
figure to read (FD.io CSIT's service-density contrast: chained directly vs through a vswitch).
"""

import csv
import io
import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ptnet.build.tools import tool_path
from ptnet.chain import lifecycle
from ptnet.errors import PtnetError
from ptnet.model.vm import VmSpec
from ptnet.plan import chain as chain_plan

LINKS = ("pipe", "vale")
# between the plan's placeholder netdevs, which create swaps for the ones the guest gave the ports
FORWARDER = [
    "bridge",
    "-i",
    f"netmap:{chain_plan.GUEST_IN}",
    "-i",
    f"netmap:{chain_plan.GUEST_OUT}",
]


def ports(link: str, tag: str, hop: int) -> tuple[str, str]:
    """The (left, right) port names of hop `hop`: left is the upstream side."""
    if link == "pipe":
        return f"{tag}{{{hop}", f"{tag}}}{hop}"
    return f"vale{tag}{hop}:l", f"vale{tag}{hop}:r"


def chain_name(link: str) -> str:
    return f"bench-{link}"


def nf_record(link: str, tag: str, k: int, *, mem_mb: int, image: str) -> lifecycle.NfRecord:
    """NF k (1-based) of the `link` bench chain."""
    in_port, out_port = ports(link, tag, k - 1)[1], ports(link, tag, k)[0]
    spec = VmSpec.from_dict(
        {
            "name": f"b{tag}{k}",
            "image": image,
            "cpus": 1,
            "mem_mb": mem_mb,
            "backend": "qemu",
            "port_mode": "passthrough",
            "ports": [in_port, out_port],
        }
    )
    return lifecycle.NfRecord(
        name=f"fwd{k}",
        role="forwarder",
        trust="trusted" if link == "pipe" else "untrusted",
        vm=spec.name,
        backend=spec.backend.value,
        spec=spec.to_dict(),
        command=list(FORWARDER),
        ports=[in_port, out_port],
    )


def measure(ingress: str, egress: str, *, seconds: float, size: int) -> dict[str, Any]:
    """pkt-gen for `seconds` at full speed into `ingress`, received at `egress`. What waits at
    the egress first (the frames an NF's netdevs sent while they came up, before its forwarder
    took the ports) is drained and counted apart: the receiver's clock starts at its first
    frame, and one stray frame a second early would make the rate look half of what it is."""
    pktgen = str(tool_path("pkt-gen"))
    drain = subprocess.run(
        [pktgen, "-i", egress, "-f", "rx", "-n", "0", "--json", "--timeout", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if drain.returncode != 0:
        raise PtnetError(f"pkt-gen failed: {drain.stderr.strip().splitlines()[-1:]}")
    rx = subprocess.Popen(
        [pktgen, "-i", egress, "-f", "rx", "-n", "0", "--json", "--idle", "5"]
        + ["--timeout", str(seconds + 60)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1)
        tx = subprocess.run(
            [pktgen, "-i", ingress, "-f", "tx", "-n", "0", "-l", str(size), "--json"]
            + ["--timeout", str(seconds)],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
        out, err = rx.communicate(timeout=seconds + 90)
    finally:
        if rx.poll() is None:
            rx.kill()
            rx.wait()
    if tx.returncode != 0 or rx.returncode != 0:
        raise PtnetError(f"pkt-gen failed: {(tx.stderr + err).strip().splitlines()[-1:]}")
    sent, got = json.loads(tx.stdout), json.loads(out)
    return {
        "tx_packets": sent["packets"],
        "rx_packets": got["packets"],
        "tx_mpps": round(sent["pps"] / 1e6, 6),
        "mpps": round(got["pps"] / 1e6, 6),
        "seconds": round(got["seconds"], 3),
        "stray_packets": json.loads(drain.stdout)["packets"],
    }


def run_chain(name: str, *, seconds: float, size: int) -> dict[str, Any]:
    """Measure the running chain `name` as it stands, on whatever hosts its NFs sit: pkt-gen into
    its ingress, received at its egress, with what each NF's ports moved meanwhile (validate's
    per-hop table, which names each NF's host)."""
    from ptnet.chain import validate

    record = lifecycle.find(name)
    ingress, egress = validate.host_port_ends(record, "bench")
    before = validate.all_stats(record)
    m = measure(ingress, egress, seconds=seconds, size=size)
    hops = validate.hop_table(record, before, validate.stats_after(record))
    return {"chain": name, "size": size, "seconds": seconds, "result": m, "hops": hops}


def run(
    lengths: list[int],
    links: list[str],
    *,
    seconds: float = 5.0,
    size: int = 60,
    mem_mb: int = 256,
    image: str = "default",
    tag: str = "bx",
    say: lifecycle.Say = lifecycle.say_stderr,
) -> dict[str, Any]:
    """Measure every (link, length); the chains are destroyed at the end, also on failure.

    At each length, the chains of every link kind grow at once (their local boots share the
    machine's CPUs: lifecycle._LOCAL_BOOTS); then each is measured alone."""
    results = []
    try:
        for n in sorted(lengths):
            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=len(links)) as pool:
                for done in [
                    pool.submit(_grow, link, n, tag, mem_mb, image, say) for link in links
                ]:
                    done.result()
            say(f"chains of {n} NFs ready in {time.monotonic() - started:.0f} s; measuring")
            for link in links:
                ingress, egress = (
                    ports(link, _tag(tag, link), 0)[0],
                    ports(link, _tag(tag, link), n)[1],
                )
                m = measure(ingress, egress, seconds=seconds, size=size)
                say(f"{chain_name(link)}: {n} NFs: {m['mpps']:.4f} Mpps")
                results.append({"link": link, "nfs": n, **m})
    finally:
        for link in links:
            lifecycle.destroy(chain_name(link), say=say)
    return {"size": size, "seconds": seconds, "results": results, "ratio": ratios(results)}


def _tag(tag: str, link: str) -> str:
    return f"{tag}{link[0]}"


def _grow(link: str, n: int, tag: str, mem_mb: int, image: str, say: lifecycle.Say) -> None:
    """The `link` chain with NFs 1..n (the first n-1 kept as they run)."""
    t = _tag(tag, link)
    lifecycle.converge(
        chain_name(link),
        [nf_record(link, t, k, mem_mb=mem_mb, image=image) for k in range(1, n + 1)],
        ingress=ports(link, t, 0)[0],
        egress=ports(link, t, n)[1],
        plan_json={"bench": True, "link": link, "nfs": n},
        say=say,
    )


def ratios(results: list[dict[str, Any]]) -> dict[str, float | None]:
    """pipe Mpps over VALE Mpps at each length that has both."""
    by = {(r["link"], r["nfs"]): r["mpps"] for r in results}
    out: dict[str, float | None] = {}
    for n in sorted({r["nfs"] for r in results}):
        pipe, vale = by.get(("pipe", n)), by.get(("vale", n))
        if pipe is not None and vale is not None:
            out[str(n)] = round(pipe / vale, 3) if vale else None
    return out


def to_csv(results: list[dict[str, Any]]) -> str:
    columns = [
        "link",
        "nfs",
        "mpps",
        "tx_mpps",
        "tx_packets",
        "rx_packets",
        "seconds",
        "stray_packets",
    ]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(results)
    return buf.getvalue()


def plot_apart(results: list[dict[str, Any]], path: Path) -> str | None:
    """plot() in a child process; None when it drew `path`, else why not. A plotting library
    that dies (NumPy on a CPU below its baseline dies of SIGILL) then takes only the plot."""
    code = "import json, sys; from pathlib import Path; from ptnet.chain.bench import plot; "
    code += "plot(json.load(sys.stdin), Path(sys.argv[1]))"
    child = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        input=json.dumps(results),
        capture_output=True,
        text=True,
    )
    if child.returncode == 0:
        return None
    if child.returncode < 0:
        return f"the plot process died of {signal.Signals(-child.returncode).name}"
    lines = child.stderr.strip().splitlines()
    return lines[-1] if lines else f"the plot process exited {child.returncode}"


def plot(results: list[dict[str, Any]], path: Path) -> None:
    """Mpps against chain length, one line per link kind, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for link in LINKS:
        points = sorted((r["nfs"], r["mpps"]) for r in results if r["link"] == link)
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o", label=f"{link} links")
    ax.set_xlabel("NFs in the chain")
    ax.set_ylabel("Mpps at the egress")
    ax.set_title("ptnet chain bench")
    ax.set_xticks(sorted({r["nfs"] for r in results}))
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
