"""`ptnet chain validate NAME`: the validation mix through a running chain, judged.

nf-probe (ptnet/chain/traffic.py builds its command line and judges its report) sends the mix
into the chain's ingress host port and receives at the egress, both directions. Each NF's stats
are read before and after over SSH, so the per-hop table shows what each NF's ports moved during
the run: rx, tx and drops, like NFVbench's chain analysis.
"""

import json
import subprocess
from typing import Any

from ptnet.build.tools import tool_path
from ptnet.chain import lifecycle
from ptnet.errors import PtnetError
from ptnet.vm.lifecycle import slowdown

COUNTERS = ("rx", "tx", "drop")


def _port_counters(stats: dict[str, Any] | None, side: str) -> dict[str, int]:
    port = ((stats or {}).get("ports") or {}).get(side) or {}
    return {k: int(port.get(k, 0)) for k in COUNTERS}


def hop_table(
    record: lifecycle.ChainRecord,
    before: dict[str, dict[str, Any] | None],
    after: dict[str, dict[str, Any] | None],
) -> list[dict[str, Any]]:
    """One row per NF port: the counters it moved between `before` and `after`."""
    rows = []
    for nf in record.nfs:
        for side, port in zip(("in", "out"), nf.ports, strict=True):
            start, end = _port_counters(before[nf.name], side), _port_counters(after[nf.name], side)
            rows.append(
                {
                    "nf": nf.name,
                    "role": nf.role,
                    "side": side,
                    "port": port,
                    **{k: end[k] - start[k] for k in COUNTERS},
                    "stats": after[nf.name] is not None,
                }
            )
    return rows


def _all_stats(record: lifecycle.ChainRecord) -> dict[str, dict[str, Any] | None]:
    return {nf.name: lifecycle.nf_stats(nf) for nf in record.nfs}


def validate(name: str, *, repeat: int = 1) -> dict[str, Any]:
    """Run the mix through chain `name`; the verdict, the flows, the hop table and the Mpps."""
    from ptnet.chain import traffic  # the mix (the nf part of issue 15)

    record = lifecycle.find(name)
    roles = [nf.role for nf in record.nfs]
    before = _all_stats(record)
    argv = traffic.probe_argv(
        str(tool_path("nf-probe")), record.ingress_port, record.egress_port, roles, repeat=repeat
    )
    accel = ""
    if record.nfs:
        vm = lifecycle.vms.base.load_record(record.nfs[0].vm)
        accel = vm.accel if vm else ""
    timeout = 120 * slowdown(accel)
    try:
        proc = subprocess.run(
            argv.argv, input=argv.stdin, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise PtnetError(f"nf-probe did not finish within {timeout:g} s") from None
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        raise PtnetError(f"nf-probe failed: {lines[-1] if lines else proc.returncode}")
    report = json.loads(proc.stdout)
    # The NFs write their stats every second: wait for a write after the last frame.
    lifecycle.guest(record.nfs[0].vm, "sleep 2") if record.nfs else None
    after = _all_stats(record)
    judged = traffic.judge(roles, report)
    return {
        "chain": name,
        "verdict": judged["verdict"],
        "mpps": report.get("mpps"),
        "flows": judged.get("flows", []),
        "hops": hop_table(record, before, after),
        "probe": {k: report.get(k) for k in ("a", "b", "elapsed_s")},
    }
