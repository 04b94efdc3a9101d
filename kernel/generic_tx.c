// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * NIC ports, transmit side: the txsync turns the packets userspace hands
 * over into skbs, one per packet with its fragments joined, and sends them
 * out of the device (hardware tx rings: dev_queue_xmit()) or up the host
 * stack as if the device had received them (host tx ring: netif_rx()).
 *
 * The bytes are copied, so slots are consumed at once; but a ring offers
 * userspace only as many free slots as its skbs still in flight allow,
 *
 *	tx.hwtail = tx.hwcur - 1 - (skbs sent and not completed)
 *
 * so senders are paced by the device and the stack, as a NIC paces them
 * with its completions. An skb completes when it is freed or orphaned:
 * its destructor counts it and wakes the ring's pollers. Since userspace
 * can never hand over more than the free slots, skbs in flight plus slots
 * not yet sent never exceed num_slots - 1, and the tail never goes back.
 *
 * The same destructor marks the skbs as the port's own: the xmit hook lets
 * the port's skbs through to the device and takes every other frame the
 * stack transmits for the host rx ring; the rx_handler lets the skbs of the
 * host tx ring through to the stack.
 *
 * Lifetime: each skb in flight holds a reference to the port's storage
 * (gp->kref), and a global count lets module unload wait for the last one.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/etherdevice.h>
#include <linux/kernel.h>
#include <linux/math.h>
#include <linux/netdevice.h>
#include <linux/rcupdate.h>
#include <linux/skbuff.h>
#include <linux/wait_bit.h>

#include "generic.h"

/* Largest frame the port builds. */
#define NM_GEN_MAX_FRAME	65535

/* skbs carrying nm_gen_skb_destructor(), over all ports. */
static atomic_t nm_gen_skbs = ATOMIC_INIT(0);

static void nm_gen_skb_destructor(struct sk_buff *skb)
{
	struct nm_gen_txr *txr = skb_shinfo(skb)->destructor_arg;
	struct nm_gen_port *gp = txr->gp;
	struct netmap_kring *kring;

	atomic_inc(&txr->done);
	rcu_read_lock();
	kring = rcu_dereference(txr->kring);
	if (kring)
		netmap_kring_wake(kring);
	kref_put(&gp->kref, nm_gen_port_release);
	if (atomic_dec_and_test(&nm_gen_skbs))
		wake_up_var(&nm_gen_skbs);
	rcu_read_unlock();
}

/**
 * nm_gen_skb_is_ours() - whether the port built an skb
 * @skb: any skb
 * @gp: the port
 * @to_stack: which way: up the host stack, or out of the device
 *
 * Return: true when @gp built @skb to go that way.
 */
bool nm_gen_skb_is_ours(const struct sk_buff *skb,
			const struct nm_gen_port *gp, bool to_stack)
{
	const struct nm_gen_txr *txr;

	if (skb->destructor != nm_gen_skb_destructor)
		return false;
	txr = skb_shinfo(skb)->destructor_arg;
	return txr->gp == gp && txr->to_stack == to_stack;
}

/* Wait until no skb of any port is in flight (module unload). */
void nm_gen_skbs_wait(void)
{
	wait_var_event(&nm_gen_skbs, !atomic_read(&nm_gen_skbs));
	synchronize_rcu();
}

/* One fragment of a packet, read once from its slot. */
struct nm_gen_frag {
	u32 idx;
	u32 off;
	u32 len;
};

/*
 * The packet starting at slot @i, before @end: its fragments, read once
 * and checked. Returns the number of slots it spans; 0 when it does not
 * end before @end. *@len gets its length, or 0 when the packet is bad (an
 * invalid buffer, a fragment longer than its buffer behind its offset, too
 * many fragments, a
 * frame too long) and must be dropped.
 */
static u32 nm_gen_packet(struct netmap_kring *kring, u32 i, u32 end,
			 struct nm_gen_frag *frags, u32 *len)
{
	struct netmap_slot *slot = nm_ring_slots(kring->ring);
	u32 n = kring->num_slots, k = 0, total = 0;
	bool bad = false;

	while (i != end) {
		u32 idx = READ_ONCE(slot[i].buf_idx);
		u32 l = READ_ONCE(slot[i].len);
		u32 off = nm_slot_offset(kring, &slot[i]);
		u16 flags = READ_ONCE(slot[i].flags);

		if (idx < NM_RESERVED_BUFS || idx >= kring->nbufs ||
		    l > nm_buf_room(kring, off) || k >= NM_MAX_FRAGS)
			bad = true;
		else
			frags[k] = (struct nm_gen_frag){ .idx = idx, .off = off,
							 .len = l };
		k++;
		total += l;
		i = nm_next(i, n);
		if (!(flags & NS_MOREFRAG)) {
			*len = bad || total > NM_GEN_MAX_FRAME ? 0 : total;
			return k;
		}
	}
	return 0;
}

/*
 * An skb holding the packet @frags, headed for @dev, or NULL when memory is
 * short.
 */
static struct sk_buff *nm_gen_skb_build(struct netmap_mem *mem,
					struct net_device *dev,
					const struct nm_gen_frag *frags,
					u32 nfrags, u32 len)
{
	u32 headroom = LL_RESERVED_SPACE(dev);
	struct sk_buff *skb;
	u32 k;

	skb = netdev_alloc_skb(dev, headroom + len);
	if (!skb)
		return NULL;
	skb_reserve(skb, headroom);
	for (k = 0; k < nfrags; k++) {
		if (netmap_buf_read(mem, frags[k].idx, frags[k].off,
				    skb_put(skb, frags[k].len),
				    frags[k].len)) {
			kfree_skb(skb);
			return NULL;
		}
	}
	return skb;
}

/*
 * Send one packet through @txr: out of the device, or up the stack.
 * Returns 0 when the packet was sent or dropped, -ENOMEM when it should be
 * tried again later.
 */
static int nm_gen_send(struct nm_gen_txr *txr, struct net_device *dev,
		       struct netmap_mem *mem, const struct nm_gen_frag *frags,
		       u32 nfrags, u32 len, u16 queue)
{
	struct sk_buff *skb;

	if (len < ETH_HLEN)
		return 0;
	skb = nm_gen_skb_build(mem, dev, frags, nfrags, len);
	if (!skb)
		return -ENOMEM;
	kref_get(&txr->gp->kref);
	atomic_inc(&nm_gen_skbs);
	skb_shinfo(skb)->destructor_arg = txr;
	skb->destructor = nm_gen_skb_destructor;
	if (txr->to_stack) {
		skb->protocol = eth_type_trans(skb, dev);
		netif_rx(skb);
	} else {
		skb_reset_mac_header(skb);
		skb_set_network_header(skb, ETH_HLEN);
		skb->protocol = eth_hdr(skb)->h_proto;
		skb_set_queue_mapping(skb, queue);
		dev_queue_xmit(skb);
	}
	return 0;
}

/**
 * nm_gen_txsync() - txsync of the hardware tx rings and the host tx ring
 * @kring: the ring, with its lock held
 *
 * Sends every complete packet in [hwcur, head); a packet whose last
 * fragment is not handed over yet waits for a later sync. Bad packets are
 * dropped.
 *
 * Return: 0, or -ENXIO once the device is gone.
 */
int nm_gen_txsync(struct netmap_kring *kring)
{
	struct nm_gen_port *gp = nm_gen_port(kring->port);
	struct nm_gen_txr *txr = &gp->txrs->r[kring->ring_id];
	struct nm_gen_frag frags[NM_MAX_FRAGS];
	u32 n = kring->num_slots;
	u32 cur = kring->nr_hwcur;
	u32 inflight;

	if (READ_ONCE(gp->dead))
		return -ENXIO;
	while (cur != kring->rhead) {
		u32 len, k = nm_gen_packet(kring, cur, kring->rhead, frags,
					   &len);

		if (!k)
			break;
		if (len) {
			if (nm_gen_send(txr, gp->dev, kring->port->mem, frags,
					min(k, (u32)NM_MAX_FRAGS), len,
					kring->ring_id))
				break;
			txr->sent++;
		}
		cur = (cur + k) % n;
	}
	kring->nr_hwcur = cur;
	inflight = txr->sent - atomic_read(&txr->done);
	kring->nr_hwtail = nm_back(cur, 1 + min(inflight, n - 1), n);
	return 0;
}

/**
 * nm_gen_forward() - pass on the released slots marked NS_FORWARD
 * @kring: an rx ring (hardware or host), with its lock held
 * @from: first released slot
 * @to: one past the last released slot
 * @txr: where they go: up the stack (from a hardware ring) or out of the
 *	device (from the host ring)
 *
 * A packet goes when its first slot is marked; the bytes are copied, so
 * the slots are released as usual.
 *
 * Return: packets forwarded.
 */
int nm_gen_forward(struct netmap_kring *kring, u32 from, u32 to,
		   struct nm_gen_txr *txr)
{
	struct nm_gen_port *gp = nm_gen_port(kring->port);
	struct netmap_slot *slot = nm_ring_slots(kring->ring);
	struct nm_gen_frag frags[NM_MAX_FRAGS];
	int sent = 0;

	while (from != to) {
		bool mark = READ_ONCE(slot[from].flags) & NS_FORWARD;
		u32 len, k = nm_gen_packet(kring, from, to, frags, &len);

		if (!k)
			break;
		if (mark && len &&
		    !nm_gen_send(txr, gp->dev, kring->port->mem, frags,
				 min(k, (u32)NM_MAX_FRAGS), len, 0))
			sent++;
		from = (from + k) % kring->num_slots;
	}
	return sent;
}

/**
 * nm_gen_xmit_hook() - the device's ndo_start_xmit while in netmap mode
 * @skb: a frame to transmit
 * @dev: the device
 *
 * The port's own frames (from its tx rings) go to the device's real
 * ndo_start_xmit; the stack's go to a host rx ring, the same one for all
 * the frames of a flow (by their hash). Called with BHs off;
 * the port is the device's rx_handler_data for as long as the hook is
 * installed.
 *
 * Return: what the device returns for the port's frames, else
 * NETDEV_TX_OK (the frame is queued or dropped).
 */
netdev_tx_t nm_gen_xmit_hook(struct sk_buff *skb, struct net_device *dev)
{
	struct nm_gen_port *gp = rcu_dereference_bh(dev->rx_handler_data);

	u32 ring, nhost;

	if (nm_gen_skb_is_ours(skb, gp, false))
		return gp->orig_ops->ndo_start_xmit(skb, dev);
	/* Constant while hooked: the port has a binding. */
	ring = gp->up.nrings[NM_RX];
	nhost = gp->up.nhost[NM_RX];
	if (nhost > 1)
		ring += reciprocal_scale(skb_get_hash(skb), nhost);
	nm_gen_rx_queue(gp, ring, skb);
	return NETDEV_TX_OK;
}
