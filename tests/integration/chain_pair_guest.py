"""Runs in lab VM a of a lab pair (tests/integration/test_chain_pair.py): `ptnet chain create`
of chains with an NF on host b (netmap.ko not loaded there) and on host c (nobody at its
address), the evidence that nothing started on either side; then, once b has loaded netmap.ko,
the chain with an NF on b created, shown, validated, measured and destroyed, and what was left
on each side. Writes what it saw as JSON to argv[1]."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ptnet.lab.pair import A_ADDR, B_ADDR

C_ADDR = "10.16.0.9"  # on the link's subnet, and nobody answers there
B_URI = f"qemu+ssh://root@{B_ADDR}/system"


def chain_file(path: Path, host: str, address: str) -> Path:
    dev = os.environ["PAIR_DEV"]
    path.write_text(
        f"name: far{host}\n"
        "hosts:\n"
        f"  local: {{address: {A_ADDR}, uplink: {{vxlan: {dev}}}}}\n"
        f"  {host}: {{uri: 'qemu+ssh://root@{address}/system', uplink: {{vxlan: {dev}}}}}\n"
        "mtu: 1400\n"
        "nfs:\n"
        "  - {role: fw}\n"
        f"  - {{role: nat, host: {host}}}\n"
    )
    return path


# Two nested guests, one in each lab VM, TCG inside TCG on a busy machine: far beyond the
# default wait for SSH.
ENV = {**os.environ, "PTNET_VM_READY_TIMEOUT": "2400"}


def run(*argv: str, timeout: float = 300) -> dict[str, object]:
    start = time.monotonic()
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, env=ENV
        )
    except subprocess.TimeoutExpired as exc:
        return {"rc": None, "stdout": str(exc.stdout), "stderr": str(exc.stderr),
                "seconds": timeout}  # fmt: skip
    return {
        "rc": proc.returncode,
        "stdout": proc.stdout,
        "stderr": proc.stderr,
        "seconds": round(time.monotonic() - start, 1),
    }


def on_b(command: str) -> dict[str, object]:
    return run("ssh", "-o", "BatchMode=yes", f"root@{B_ADDR}", command)


def vale_ctl() -> str:
    from ptnet.build.tools import tool_path

    return str(tool_path("vale-ctl"))


def left_here() -> dict[str, object]:
    """What a chain would have left on this host: QEMUs, chain records, VALE or VXLAN ports."""
    state = Path(os.environ["PTNET_STATE_DIR"]) / "chains"
    return {
        "qemu": run("pgrep", "-a", "qemu")["stdout"],
        "records": sorted(p.name for p in state.glob("*")) if state.is_dir() else [],
        "vxlan": run("ip", "-o", "link", "show", "type", "vxlan")["stdout"],
        "vale": run(vale_ctl())["stdout"],
    }


def domains_on_b() -> list[str]:
    import libvirt

    conn = libvirt.open(f"{B_URI}?no_tty=1")
    try:
        return sorted(d.name() for d in conn.listAllDomains())
    finally:
        conn.close()


def left_on_b(*, vale: bool = False) -> dict[str, object]:
    """What is on b: domains, VXLAN devices, QEMUs, and (with netmap.ko there) VALE ports."""
    seen = {
        "domains": domains_on_b(),
        "vxlan": on_b("ip -o link show type vxlan")["stdout"],
        "qemu": on_b("pgrep -a qemu || true")["stdout"],
    }
    if vale:
        seen["vale"] = on_b(vale_ctl())["stdout"]
    return seen


def main() -> None:
    out = Path(sys.argv[1])
    work = Path("/tmp/pair")
    work.mkdir(exist_ok=True)
    ptnet = (sys.executable, "-m", "ptnet", "chain", "create")
    seen: dict[str, object] = {"ssh_b": on_b("echo hello from $(hostname)")}
    seen["netmap_missing"] = run(*ptnet, "-f", str(chain_file(work / "b.yml", "b", B_ADDR)))
    seen["unreachable"] = run(*ptnet, "-f", str(chain_file(work / "c.yml", "c", C_ADDR)))
    seen["left_here"] = left_here()
    seen["left_on_b"] = left_on_b()
    netmap = os.environ["PAIR_NETMAP_KO"]
    seen["insmod_b"] = on_b(f"insmod {netmap}")
    check = (
        "from ptnet.chain.hosts import preflight; from ptnet.model.chain import load_file; "
        "from ptnet.plan.chain import plan; "
        f"preflight(plan(load_file({str(work / 'b.yml')!r}))); print('ready')"
    )
    seen["preflight_ready"] = run(sys.executable, "-c", check)
    chain = (sys.executable, "-m", "ptnet", "chain")
    seen["create"] = run(*ptnet, "-f", str(work / "b.yml"), timeout=3600)
    seen["running"] = {"here": left_here(), "on_b": left_on_b(vale=True)}
    seen["show"] = run(*chain, "show", "farb", "--format", "json", timeout=600)
    seen["show_table"] = run(*chain, "show", "farb", timeout=600)
    seen["list"] = run(*chain, "list", "--format", "json", timeout=600)
    seen["validate"] = run(*chain, "validate", "farb", "--format", "json", timeout=1200)
    seen["bench"] = run(*chain, "bench", "farb", "--seconds", "2", timeout=600)
    seen["destroy"] = run(*chain, "destroy", "farb", timeout=1200)
    seen["left_after_destroy"] = {"here": left_here(), "on_b": left_on_b(vale=True)}
    seen["rmmod_b"] = on_b("rmmod netmap")
    out.write_text(json.dumps(seen, indent=1))


if __name__ == "__main__":
    main()
