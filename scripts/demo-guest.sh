#!/bin/sh
# The `make demo` scenario, run inside the lab guest by `ptnet lab run`: netmap.ko is loaded.
set -eu
T="$PTNET_CACHE_DIR/build/tools"
N=2000000

echo "== guest kernel $(uname -r), $(nproc) CPUs"
ls -l /dev/netmap
echo "== pkt-gen: $N frames of 60 bytes over the netmap pipe demo{1 -> demo}1, every frame checked"
"$T/pkt-gen" -i 'netmap:demo}1' -f rx -n "$N" --verify -a 1 2>&1 | sed 's/^/rx: /' &
sleep 0.5
"$T/pkt-gen" -i 'netmap:demo{1' -f tx -n "$N" -a 0 2>&1 | sed 's/^/tx: /'
wait
echo "== leak counters after the run"
for c in priv_count port_count mem_count if_in_use ring_in_use buf_in_use; do
	printf '%s=%s ' "$c" "$(cat /sys/module/netmap/parameters/$c)"
done
echo
rmmod netmap && echo "== netmap.ko unloaded cleanly"
