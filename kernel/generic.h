/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The emulated ("generic") adapter: NIC and host-stack ports on any Linux
 * netdev. Declarations shared by generic.c (ports, lookup, hooks, device
 * notifier), generic_rx.c (receive side) and generic_tx.c (transmit side).
 *
 * A port "eth0" has one hardware tx ring per tx queue of the device, one
 * hardware rx ring per rx queue, and host rings, one per direction unless
 * a request asks for more (generic.c):
 *
 *   hw tx ring i    slots -> skbs -> dev_queue_xmit() on the device
 *   hw rx ring i    frames the device received (rx_handler), not the stack
 *   host tx ring j  slots -> skbs -> netif_rx(), as if the device received
 *   host rx ring j  frames the stack transmits on the device (xmit hook),
 *                   each flow on one ring: its hash modulo the host rings
 *
 * While the port is active (bound at least once) the device is in netmap
 * mode: an rx_handler takes every received frame, and a private copy of
 * the device's net_device_ops, whose ndo_start_xmit differs, takes every
 * frame the stack transmits. Frames built by the port itself carry
 * nm_gen_skb_destructor() and are let through.
 *
 * Contexts and locks:
 *   - syncs run under their kring->lock (a spinlock taken without
 *     disabling BHs); they build and send skbs and copy queued frames into
 *     slots;
 *   - the rx_handler and the xmit hook run in softirq context (or with BHs
 *     off) and only queue skbs (the sk_buff_head lock), start timers and
 *     wake pollers: they never take a kring->lock;
 *   - skb destructors run in any context and only count and wake;
 *   - hooking and unhooking run under rtnl_lock (inside netmap_lock).
 */
#ifndef NETMAP_GENERIC_H
#define NETMAP_GENERIC_H

#include <linux/hrtimer.h>
#include <linux/kref.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>

#include "netmap_kern.h"

struct nm_gen_port;

/**
 * struct nm_gen_txr - a source of skbs the port builds
 * @gp: the port
 * @kring: the ring woken when one of its skbs completes; NULL for the
 *	forwarding sources and once the ring array is gone (RCU)
 * @done: its skbs freed or orphaned so far
 * @sent: its skbs handed to the stack so far (the ring's lock)
 * @to_stack: its skbs go up the host stack, not out of the device
 */
struct nm_gen_txr {
	struct nm_gen_port *gp;
	struct netmap_kring __rcu *kring;
	atomic_t done;
	u32 sent;
	bool to_stack;
};

/**
 * struct nm_gen_rxq - frames waiting for an rx ring
 * @q: the skbs, oldest first, at most the ring's slots
 * @timer: interrupt mitigation: wakeups within one period are coalesced
 * @mit_ns: the period; 0 wakes on every frame
 * @pending: frames arrived since the last wakeup (timer running)
 * @kring: the ring
 * @drops: frames dropped because the queue was full
 */
struct nm_gen_rxq {
	struct sk_buff_head q;
	struct hrtimer timer;
	u64 mit_ns;
	atomic_t pending;
	struct netmap_kring *kring;
	atomic_t drops;
};

/**
 * struct nm_gen_txrs - the sources of the tx krings, by ring index
 * @node: on the port's retired list once replaced while skbs of the port
 *	were in flight (they may point into @r)
 * @r: the sources
 */
struct nm_gen_txrs {
	struct list_head node;
	struct nm_gen_txr r[];
};

/* The forwarding sources, gp->fwd[]. */
enum { NM_GEN_FWD_STACK = 0, NM_GEN_FWD_NIC = 1, NM_GEN_NFWD = 2 };

/**
 * struct nm_gen_port - a NIC port on a netdev
 * @up: the netmap port ("the port" everywhere else)
 * @kref: the storage: one reference for @up, one per skb in flight
 * @dev: the device, held; NULL once it unregistered
 * @node: entry in the list of generic ports (rtnl_lock)
 * @dead: the device went away: syncs and activation fail
 * @hooked: rx_handler and xmit hook installed (rtnl_lock)
 * @orig_ops: the device's own net_device_ops while hooked
 * @ops: the private copy installed while hooked
 * @cap: krings allocated per direction (hardware and host rings), at
 *	least netmap_port_nkrings(); @rxq and @txrs have as many
 * @rxq: per rx kring (hardware rings, then the host rings)
 * @txrs: per tx kring (hardware rings, then the host rings)
 * @retired: earlier @txrs that skbs in flight may still use
 * @fwd: the forwarding sources
 *
 * @cap, @rxq, @txrs and the krings change only while the port has no
 * binding, under netmap_lock and rtnl_lock.
 */
struct nm_gen_port {
	struct netmap_port up;
	struct kref kref;
	struct net_device *dev;
	struct list_head node;
	bool dead;
	bool hooked;
	const struct net_device_ops *orig_ops;
	struct net_device_ops ops;
	u32 cap[NM_NDIR];
	struct nm_gen_rxq *rxq;
	struct nm_gen_txrs *txrs;
	struct list_head retired;
	struct nm_gen_txr fwd[NM_GEN_NFWD];
};

static inline struct nm_gen_port *nm_gen_port(struct netmap_port *port)
{
	return container_of(port, struct nm_gen_port, up);
}

/* generic.c */
void nm_gen_port_release(struct kref *kref);
u32 nm_gen_mit_ns(void);

/* generic_rx.c */
rx_handler_result_t nm_gen_rx_handler(struct sk_buff **pskb);
void nm_gen_rx_queue(struct nm_gen_port *gp, u32 ring, struct sk_buff *skb);
int nm_gen_rxsync(struct netmap_kring *kring);
void nm_gen_rxq_init(struct nm_gen_port *gp);
void nm_gen_rxq_stop(struct nm_gen_port *gp);

/* generic_tx.c */
int nm_gen_txsync(struct netmap_kring *kring);
netdev_tx_t nm_gen_xmit_hook(struct sk_buff *skb, struct net_device *dev);
bool nm_gen_skb_is_ours(const struct sk_buff *skb,
			const struct nm_gen_port *gp, bool to_stack);
int nm_gen_forward(struct netmap_kring *kring, u32 from, u32 to,
		   struct nm_gen_txr *txr);
void nm_gen_skbs_wait(void);

#endif /* NETMAP_GENERIC_H */
