// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Leak accounting. Each counter is a read-only module parameter, so tests
 * can read it from /sys/module/netmap/parameters/<name> and check that
 * everything the module allocated for them has been given back.
 */
#include <linux/atomic.h>
#include <linux/errno.h>
#include <linux/moduleparam.h>
#include <linux/sysfs.h>

#include "netmap_kern.h"

atomic_t netmap_priv_count = ATOMIC_INIT(0);
atomic_t netmap_port_count = ATOMIC_INIT(0);
atomic_t netmap_mem_count = ATOMIC_INIT(0);
atomic_t netmap_if_in_use = ATOMIC_INIT(0);
atomic_t netmap_ring_in_use = ATOMIC_INIT(0);
atomic_t netmap_buf_in_use = ATOMIC_INIT(0);
atomic_t netmap_csb_count = ATOMIC_INIT(0);
atomic_t netmap_extmem_pages = ATOMIC_INIT(0);
atomic_t netmap_kloop_count = ATOMIC_INIT(0);
atomic_t netmap_kloop_errors = ATOMIC_INIT(0);

static int netmap_stat_get(char *buf, const struct kernel_param *kp)
{
	const atomic_t *counter = kp->arg;

	return sysfs_emit(buf, "%d\n", atomic_read(counter));
}

/* Counters cannot be set, not even as insmod arguments. */
static int netmap_stat_set(const char *val, const struct kernel_param *kp)
{
	return -EPERM;
}

static const struct kernel_param_ops netmap_stat_ops = {
	.set = netmap_stat_set,
	.get = netmap_stat_get,
};

module_param_cb(priv_count, &netmap_stat_ops, &netmap_priv_count, 0444);
MODULE_PARM_DESC(priv_count, "open /dev/netmap descriptors (read-only)");
module_param_cb(port_count, &netmap_stat_ops, &netmap_port_count, 0444);
MODULE_PARM_DESC(port_count, "live ports (read-only)");
module_param_cb(mem_count, &netmap_stat_ops, &netmap_mem_count, 0444);
MODULE_PARM_DESC(mem_count, "live memory regions (read-only)");
module_param_cb(if_in_use, &netmap_stat_ops, &netmap_if_in_use, 0444);
MODULE_PARM_DESC(if_in_use, "netmap_if objects allocated (read-only)");
module_param_cb(ring_in_use, &netmap_stat_ops, &netmap_ring_in_use, 0444);
MODULE_PARM_DESC(ring_in_use, "rings allocated (read-only)");
module_param_cb(buf_in_use, &netmap_stat_ops, &netmap_buf_in_use, 0444);
MODULE_PARM_DESC(buf_in_use, "buffers allocated (read-only)");
module_param_cb(csb_count, &netmap_stat_ops, &netmap_csb_count, 0444);
MODULE_PARM_DESC(csb_count, "descriptors in CSB mode (read-only)");
module_param_cb(extmem_pages, &netmap_stat_ops, &netmap_extmem_pages, 0444);
MODULE_PARM_DESC(extmem_pages, "user pages pinned by EXTMEM regions (read-only)");
module_param_cb(kloop_count, &netmap_stat_ops, &netmap_kloop_count, 0444);
MODULE_PARM_DESC(kloop_count, "running sync kloops (read-only)");
/* Not a leak counter: it only grows, one per bad CSB entry a kloop met. */
module_param_cb(kloop_errors, &netmap_stat_ops, &netmap_kloop_errors, 0444);
MODULE_PARM_DESC(kloop_errors, "bad CSB pointers or slots met by kloops (read-only)");
