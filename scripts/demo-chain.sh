#!/bin/sh
# The end of `make demo`, run inside the lab guest by `ptnet lab run`: the mission's job. A chain
# of three NF VMs (fw, ids, nat) wired with netmap pipes, validated with the traffic mix,
# measured, drawn as Mermaid, and destroyed. Progress goes to stderr, one line per NF and step.
set -eu
P="python3 -m ptnet"
[ -x .venv/bin/python ] && P=".venv/bin/python -m ptnet"
NAME=fw-ids-nat
t0=$(date +%s)
step() { echo "== [$(( $(date +%s) - t0 )) s] $*"; }

step "the plan: ptnet chain create fw,ids,nat --dry-run"
$P chain create fw,ids,nat --dry-run | sed -n '1,/^regions:/p'
step "the graph (Mermaid, renders in GitHub Markdown)"
$P chain graph fw,ids,nat --format mermaid
step "ptnet chain create fw,ids,nat (three VMs, under KVM inside the lab: one at a time on its one CPU)"
$P chain create fw,ids,nat
step "ptnet chain show $NAME"
$P chain show "$NAME"
step "ptnet chain validate $NAME: the mix both ways, per-hop table, Mpps, verdict"
status=0
$P chain validate "$NAME" || status=$?
step "ptnet chain bench $NAME --seconds 2: Mpps through the running chain, and each NF's ports"
$P chain bench "$NAME" --seconds 2 || status=$?
step "ptnet chain destroy $NAME"
$P chain destroy "$NAME"
$P chain list
step "done (validate exit code $status)"
exit "$status"
