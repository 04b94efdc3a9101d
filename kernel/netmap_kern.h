/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Declarations shared by the files of netmap.ko.
 */
#ifndef NETMAP_KERN_H
#define NETMAP_KERN_H

#include <linux/atomic.h>
#include <linux/mutex.h>

/*
 * Per-file-descriptor state of /dev/netmap, allocated in open and freed in
 * release. The port binding, the netmap_if and the ring range will live
 * here; for now it only carries the lock that serialises the control
 * requests made on this descriptor.
 */
struct netmap_priv {
	struct mutex lock;
};

/* dev.c: the /dev/netmap misc device. */
int netmap_dev_init(void);
void netmap_dev_exit(void);

/*
 * stats.c: leak accounting, read-only under /sys/module/netmap/parameters/.
 * netmap_priv_count is the number of live struct netmap_priv.
 */
extern atomic_t netmap_priv_count;

#endif /* NETMAP_KERN_H */
