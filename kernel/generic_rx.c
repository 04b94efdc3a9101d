// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * NIC ports, receive side: frames the device received (rx_handler) wait
 * for a hardware rx ring, frames the host stack transmitted (xmit hook in
 * generic_tx.c) wait for the host rx ring. The rxsync copies them into the
 * free slots and takes back the slots userspace released, forwarding the
 * ones marked NS_FORWARD when the ring has NR_FORWARD.
 *
 * Frames wait as skbs, at most one ring's worth per ring (more are
 * dropped, as a full NIC ring drops), orphaned (a waiting frame charges no
 * sender's socket), and already in the form userspace gets:
 * the Ethernet header in front, a VLAN tag the device took out put back,
 * GSO frames cut into wire-sized segments, and checksums left to the
 * device filled in. A frame longer than a buffer takes several slots,
 * chained with NS_MOREFRAG.
 *
 * Interrupt mitigation: the first frame after a quiet period wakes the
 * ring's pollers at once and opens a window of generic_mit_us; frames that
 * arrive within it are announced by one wakeup when it closes. The window
 * state is rxq->pending: 0 closed, 1 open, 2 open with frames to announce.
 *
 * Contexts: queueing runs in softirq context (or with BHs off) and takes
 * only the queue's lock; the rxsync runs under the ring's lock and takes
 * the queue's lock inside it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/etherdevice.h>
#include <linux/hrtimer.h>
#include <linux/if_vlan.h>
#include <linux/kernel.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>

#include "compat.h"
#include "generic.h"

enum { NM_MIT_CLOSED = 0, NM_MIT_OPEN = 1, NM_MIT_PENDING = 2 };

static enum hrtimer_restart nm_gen_mit_fire(struct hrtimer *timer)
{
	struct nm_gen_rxq *rxq = container_of(timer, struct nm_gen_rxq, timer);

	for (;;) {
		if (atomic_cmpxchg(&rxq->pending, NM_MIT_PENDING,
				   NM_MIT_OPEN) == NM_MIT_PENDING) {
			netmap_kring_wake(rxq->kring);
			hrtimer_forward_now(timer, ns_to_ktime(rxq->mit_ns));
			return HRTIMER_RESTART;
		}
		if (atomic_cmpxchg(&rxq->pending, NM_MIT_OPEN,
				   NM_MIT_CLOSED) == NM_MIT_OPEN)
			return HRTIMER_NORESTART;
	}
}

/* New frames wait on @rxq: wake now, or leave it to the open window. */
static void nm_gen_rx_kick(struct nm_gen_rxq *rxq)
{
	if (!rxq->mit_ns) {
		netmap_kring_wake(rxq->kring);
		return;
	}
	for (;;) {
		int s = atomic_read(&rxq->pending);

		if (s == NM_MIT_PENDING)
			return;
		if (s == NM_MIT_OPEN) {
			if (atomic_cmpxchg(&rxq->pending, NM_MIT_OPEN,
					   NM_MIT_PENDING) == NM_MIT_OPEN)
				return;
			continue;
		}
		if (atomic_cmpxchg(&rxq->pending, NM_MIT_CLOSED,
				   NM_MIT_OPEN) == NM_MIT_CLOSED) {
			netmap_kring_wake(rxq->kring);
			hrtimer_start(&rxq->timer, ns_to_ktime(rxq->mit_ns),
				      HRTIMER_MODE_REL);
			return;
		}
	}
}

/* The ring is about to get its first user: empty queues, fresh windows. */
void nm_gen_rxq_init(struct nm_gen_port *gp)
{
	u32 i, n = netmap_port_nkrings(&gp->up, NM_RX);
	u32 mit = nm_gen_mit_ns();

	for (i = 0; i < n; i++) {
		struct nm_gen_rxq *rxq = &gp->rxq[i];

		nm_hrtimer_setup(&rxq->timer, nm_gen_mit_fire, CLOCK_MONOTONIC,
				 HRTIMER_MODE_REL);
		rxq->mit_ns = mit;
		atomic_set(&rxq->pending, NM_MIT_CLOSED);
		atomic_set(&rxq->drops, 0);
	}
}

/* Nothing queues any more (unhooked): stop the timers, drop the frames. */
void nm_gen_rxq_stop(struct nm_gen_port *gp)
{
	u32 i, n = netmap_port_nkrings(&gp->up, NM_RX);

	for (i = 0; i < n; i++) {
		hrtimer_cancel(&gp->rxq[i].timer);
		skb_queue_purge(&gp->rxq[i].q);
	}
}

/*
 * Fill in a checksum the device was to compute. Returns false, having
 * freed @skb, when that fails.
 */
static bool nm_gen_csum(struct sk_buff *skb)
{
	if (skb->ip_summed == CHECKSUM_PARTIAL && skb_checksum_help(skb)) {
		kfree_skb(skb);
		return false;
	}
	return true;
}

/*
 * Cut a GSO frame into segments with complete checksums. Frames from the
 * transmit path carry CHECKSUM_PARTIAL, frames aggregated on receive
 * CHECKSUM_PARTIAL or CHECKSUM_UNNECESSARY; anything else is dropped.
 * Returns the list of segments, or NULL; @skb is consumed either way.
 */
static struct sk_buff *nm_gen_segment(struct sk_buff *skb)
{
	struct sk_buff *segs;

	if (skb->ip_summed != CHECKSUM_PARTIAL &&
	    skb->ip_summed != CHECKSUM_UNNECESSARY) {
		kfree_skb(skb);
		return NULL;
	}
	segs = nm_skb_gso_segment(skb, skb->ip_summed == CHECKSUM_PARTIAL);
	if (IS_ERR_OR_NULL(segs)) {
		kfree_skb(skb);
		return NULL;
	}
	consume_skb(skb);
	return segs;
}

/**
 * nm_gen_rx_queue() - queue a frame for an rx ring
 * @gp: the port
 * @ring: index of the rx kring (the host ring is the last one)
 * @skb: the frame, owned by the caller, with skb->data at the Ethernet
 *	header; consumed
 *
 * Any context with BHs off.
 */
void nm_gen_rx_queue(struct nm_gen_port *gp, u32 ring, struct sk_buff *skb)
{
	struct nm_gen_rxq *rxq = &gp->rxq[ring];
	u32 limit = rxq->kring->num_slots;
	struct sk_buff *next;
	bool queued = false;

	/* Waiting here must not charge the sender (a socket, another port). */
	skb_orphan(skb);
	if (skb_vlan_tag_present(skb)) {
		skb = __vlan_hwaccel_push_inside(skb);
		if (!skb)
			return;
	}
	if (skb_is_gso(skb)) {
		skb = nm_gen_segment(skb);
		if (!skb)
			return;
	}
	skb_list_walk_safe(skb, skb, next) {
		skb_mark_not_on_list(skb);
		if (!nm_gen_csum(skb))
			continue;
		if (skb_queue_len_lockless(&rxq->q) >= limit) {
			atomic_inc(&rxq->drops);
			kfree_skb(skb);
			continue;
		}
		skb_queue_tail(&rxq->q, skb);
		queued = true;
	}
	if (queued)
		nm_gen_rx_kick(rxq);
}

/**
 * nm_gen_rx_handler() - the device's rx_handler while in netmap mode
 * @pskb: the received frame
 *
 * Frames the host tx ring injected go on to the stack; every other frame
 * goes to the hardware rx ring of the queue it came from.
 *
 * Return: RX_HANDLER_PASS or RX_HANDLER_CONSUMED.
 */
rx_handler_result_t nm_gen_rx_handler(struct sk_buff **pskb)
{
	struct sk_buff *skb = *pskb;
	struct nm_gen_port *gp = rcu_dereference(skb->dev->rx_handler_data);
	u32 nrx = gp->up.nrings[NM_RX];
	u32 ring = 0;

	if (nm_gen_skb_is_ours(skb, gp, true))
		return RX_HANDLER_PASS;
	skb = skb_share_check(skb, GFP_ATOMIC);
	if (!skb)
		return RX_HANDLER_CONSUMED;
	if (skb_rx_queue_recorded(skb))
		ring = skb_get_rx_queue(skb) % nrx;
	skb_push(skb, skb->data - skb_mac_header(skb));
	nm_gen_rx_queue(gp, ring, skb);
	return RX_HANDLER_CONSUMED;
}

/*
 * Copy @len bytes of @skb from @off into buffer @idx. Returns 0 or
 * -ENOMEM.
 */
static int nm_gen_skb_to_buf(struct netmap_mem *mem, u32 idx, u32 at,
			     const struct sk_buff *skb, u32 off, u32 len)
{
	u32 done = 0;

	while (done < len) {
		u32 n = len - done;
		void *dst = netmap_buf_chunk(mem, idx, at + done, &n);

		if (!dst || skb_copy_bits(skb, off + done, dst, n))
			return -ENOMEM;
		done += n;
	}
	return 0;
}

/*
 * Frame bytes each rx slot takes: what fits behind the largest offset the
 * ring allows (a slot's own offset is clamped to it); 0 when the maximum
 * is the buffer size, and no frame can be received.
 */
static u32 nm_gen_rx_cap(const struct netmap_kring *kring)
{
	return nm_buf_room(kring, READ_ONCE(kring->offset_max));
}

/*
 * Copy one frame into the slots from @i on (as many as it needs, which
 * the caller checked are free), at most @cap bytes each, at each slot's
 * offset. A slot whose buffer index userspace made invalid keeps it and
 * gets no bytes. Returns 0 or -ENOMEM.
 */
static int nm_gen_rx_fill(struct netmap_kring *kring, u32 i,
			  const struct sk_buff *skb, u32 need, u32 cap)
{
	struct netmap_slot *slot = nm_ring_slots(kring->ring);
	struct netmap_mem *mem = kring->port->mem;
	u32 off = 0, k;

	for (k = 0; k < need; k++, i = nm_next(i, kring->num_slots)) {
		u32 idx = READ_ONCE(slot[i].buf_idx);
		u32 at = min(nm_slot_offset(kring, &slot[i]),
			     kring->buf_size - cap);
		u32 len = min(skb->len - off, cap);

		if (idx >= NM_RESERVED_BUFS && idx < kring->nbufs &&
		    nm_gen_skb_to_buf(mem, idx, at, skb, off, len))
			return -ENOMEM;
		WRITE_ONCE(slot[i].len, len);
		WRITE_ONCE(slot[i].flags, k + 1 < need ? NS_MOREFRAG : 0);
		off += len;
	}
	return 0;
}

/**
 * nm_gen_rxsync() - rxsync of the hardware rx rings and the host rx ring
 * @kring: the ring, with its lock held
 *
 * Return: 0, or -ENXIO once the device is gone.
 */
int nm_gen_rxsync(struct netmap_kring *kring)
{
	struct nm_gen_port *gp = nm_gen_port(kring->port);
	struct nm_gen_rxq *rxq = &gp->rxq[kring->ring_id];
	u32 n = kring->num_slots;
	u32 tail = kring->nr_hwtail;
	u32 room;

	if (READ_ONCE(gp->dead))
		return -ENXIO;
	if (kring->rhead != kring->nr_hwcur) {
		if (READ_ONCE(kring->ring->flags) & NR_FORWARD)
			nm_gen_forward(kring, kring->nr_hwcur, kring->rhead,
				       &gp->fwd[kring->host ? NM_GEN_FWD_NIC :
						NM_GEN_FWD_STACK]);
		kring->nr_hwcur = kring->rhead;
	}
	/* The free slots are [hwtail, hwcur - 1). */
	room = nm_dist(tail, nm_back(kring->nr_hwcur, 1, n), n);
	while (room) {
		struct sk_buff *skb = skb_dequeue(&rxq->q);
		u32 cap = nm_gen_rx_cap(kring), need;

		if (!skb)
			break;
		need = cap ? max_t(u32, DIV_ROUND_UP(skb->len, cap), 1) : n;
		if (need > NM_MAX_FRAGS || need >= n) {
			/* It would never fit: drop it, not the ring. */
			atomic_inc(&rxq->drops);
			kfree_skb(skb);
			continue;
		}
		if (need > room) {
			skb_queue_head(&rxq->q, skb);
			break;
		}
		if (nm_gen_rx_fill(kring, tail, skb, need, cap)) {
			skb_queue_head(&rxq->q, skb);
			break;
		}
		consume_skb(skb);
		tail = (tail + need) % n;
		room -= need;
	}
	kring->nr_hwtail = tail;
	return 0;
}
