/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Small named helpers for the kernel API differences between the kernels
 * netmap.ko is built for (Debian's 6.1, 6.12 and 7.x). Code elsewhere calls
 * the helper and never tests versions itself.
 */
#ifndef NETMAP_COMPAT_H
#define NETMAP_COMPAT_H

#include <linux/device.h>
#include <linux/eventfd.h>
#include <linux/hrtimer.h>
#include <linux/mm.h>
#include <linux/netdevice.h>
#include <linux/version.h>
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
#include <net/gso.h>
#endif

/* vma->vm_flags became read-only in 6.3; vm_flags_set() replaced |=. */
static inline void nm_vma_set_flags(struct vm_area_struct *vma,
				    unsigned long flags)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

/* eventfd_signal() lost its count argument in 6.8: add one to @ctx. */
static inline void nm_eventfd_signal(struct eventfd_ctx *ctx)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 8, 0)
	eventfd_signal(ctx);
#else
	eventfd_signal(ctx, 1);
#endif
}

/*
 * Software GSO of a frame; @tx_path tells whether it comes from the
 * transmit path (CHECKSUM_PARTIAL) or was aggregated on receive. The
 * declaration moved from <linux/netdevice.h> to <net/gso.h> in 6.5.
 */
static inline struct sk_buff *nm_skb_gso_segment(struct sk_buff *skb,
						 bool tx_path)
{
	return __skb_gso_segment(skb, 0, tx_path);
}

/*
 * NETIF_F_NETNS_LOCAL became the netns_local bit of the device in 6.12,
 * renamed netns_immutable in 6.15.
 */
static inline void nm_netdev_set_netns_local(struct net_device *dev)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 15, 0)
	dev->netns_immutable = true;
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
	dev->netns_local = true;
#else
	dev->features |= NETIF_F_NETNS_LOCAL;
#endif
}

/*
 * The device a struct device_type's devnode() callback gets: const since
 * 6.2. Declare the callback's first parameter with this type.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
typedef const struct device nm_devnode_device;
#else
typedef struct device nm_devnode_device;
#endif

/*
 * Set up a timer that calls @fn: hrtimer_setup() took the callback in
 * 6.13 and replaced hrtimer_init() and the assignment of ->function.
 */
static inline void nm_hrtimer_setup(struct hrtimer *timer,
				    enum hrtimer_restart (*fn)(struct hrtimer *),
				    clockid_t clock, enum hrtimer_mode mode)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
	hrtimer_setup(timer, fn, clock, mode);
#else
	hrtimer_init(timer, clock, mode);
	timer->function = fn;
#endif
}

#endif /* NETMAP_COMPAT_H */
