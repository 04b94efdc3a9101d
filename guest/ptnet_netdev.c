// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The Linux netdev of a ptnet device: tx queue i is tx ring i, and each
 * rx ring has a NAPI context. Frames are copied: into the buffer of a tx
 * slot on transmit, out of the buffer of an rx slot into a new skb on
 * receive. With the virtio-net header on, every frame starts with one;
 * the netdev offers no offloads, so it writes an empty header and accepts
 * whatever the host's header says on receive.
 *
 * Interrupts: a ring's MSI-X vector fires when the host moved hwtail
 * while atok.appl_need_kick was set. The netdev sets it on an rx ring
 * when NAPI goes idle, and on a tx ring when the queue stopped for lack
 * of slots; both look at the ring once more after setting it.
 *
 * A netmap application that binds the port takes the rings over
 * (ptnet_netdev_quiesce()) and gives them back when its last binding
 * goes (ptnet_netdev_resume()); the carrier stays up meanwhile, frames
 * sent through the netdev then wait in the qdisc.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/etherdevice.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <linux/virtio_net.h>

#include "ptnet.h"

struct ptnet_netdev_priv {
	struct ptnet_dev *pt;
};

static struct ptnet_dev *ptnet_of(struct net_device *netdev)
{
	return ((struct ptnet_netdev_priv *)netdev_priv(netdev))->pt;
}

/* ---------------------------------------------------------------------- */
/* Transmit                                                                */
/* ---------------------------------------------------------------------- */

/* Free tx slots the netdev may fill, after taking what the host gave. */
static u32 ptnet_tx_room(struct ptnet_ring *r)
{
	struct netmap_kring *kring = r->kring;

	ptnet_ring_pull(r);
	kring->rtail = kring->nr_hwtail;
	return nm_dist(kring->rhead, kring->nr_hwtail, kring->num_slots);
}

static netdev_tx_t ptnet_xmit(struct sk_buff *skb, struct net_device *netdev)
{
	struct ptnet_dev *pt = ptnet_of(netdev);
	u16 q = skb_get_queue_mapping(skb);
	struct ptnet_ring *r = &pt->rings[NM_TX][q];
	struct netdev_queue *txq = netdev_get_tx_queue(netdev, q);
	struct netmap_kring *kring = r->kring;
	struct netmap_slot *slot;
	void *buf;

	if (unlikely(READ_ONCE(pt->nm_active))) {	/* netmap has the rings */
		netif_tx_stop_queue(txq);
		return NETDEV_TX_BUSY;
	}
	if (unlikely(!ptnet_tx_room(r))) {
		netif_tx_stop_queue(txq);
		if (!ptnet_ring_arm(r, kring->rhead))
			return NETDEV_TX_BUSY;
		netif_tx_start_queue(txq);
		kring->rtail = kring->nr_hwtail;
	} else if (unlikely(READ_ONCE(r->atok->appl_need_kick))) {
		ptnet_ring_disarm(r);	/* woken: no more interrupts needed */
	}
	slot = &nm_ring_slots(kring->ring)[kring->rhead];
	buf = ptnet_buf(r, READ_ONCE(slot->buf_idx));
	if (unlikely(!buf || skb->len + pt->hdr_len > kring->buf_size)) {
		netdev->stats.tx_dropped++;
		dev_kfree_skb_any(skb);
		return NETDEV_TX_OK;
	}
	if (pt->hdr_len) {
		memset(buf, 0, pt->hdr_len);
		virtio_net_hdr_from_skb(skb, buf, true, false, 0);
	}
	skb_copy_bits(skb, 0, buf + pt->hdr_len, skb->len);
	slot->len = skb->len + pt->hdr_len;
	slot->flags = 0;
	netdev->stats.tx_packets++;
	netdev->stats.tx_bytes += skb->len;
	dev_consume_skb_any(skb);

	kring->rhead = nm_next(kring->rhead, kring->num_slots);
	kring->rcur = kring->rhead;
	kring->nr_hwcur = kring->rhead;
	ptnet_ring_publish(r, kring->rhead, kring->rcur);
	if (!ptnet_tx_room(r)) {
		netif_tx_stop_queue(txq);
		if (ptnet_ring_arm(r, kring->rhead))
			netif_tx_start_queue(txq);
	}
	if (!netdev_xmit_more() || netif_tx_queue_stopped(txq))
		ptnet_ring_kick(r);
	return NETDEV_TX_OK;
}

/* ---------------------------------------------------------------------- */
/* Receive                                                                 */
/* ---------------------------------------------------------------------- */

/* One frame of one slot into a new skb; NULL when it must be dropped. */
static struct sk_buff *ptnet_rx_frame(struct ptnet_ring *r,
				      struct netmap_slot *slot)
{
	struct ptnet_dev *pt = r->pt;
	struct net_device *netdev = pt->netdev;
	u32 len = READ_ONCE(slot->len);
	void *buf = ptnet_buf(r, READ_ONCE(slot->buf_idx));
	struct sk_buff *skb;

	if (unlikely(!buf || len > r->kring->buf_size ||
		     len < pt->hdr_len + ETH_HLEN)) {
		netdev->stats.rx_length_errors++;
		return NULL;
	}
	skb = napi_alloc_skb(&r->napi, len - pt->hdr_len);
	if (unlikely(!skb)) {
		netdev->stats.rx_dropped++;
		return NULL;
	}
	skb_put_data(skb, buf + pt->hdr_len, len - pt->hdr_len);
	if (pt->hdr_len &&
	    virtio_net_hdr_to_skb(skb, buf, true)) {
		netdev->stats.rx_frame_errors++;
		dev_kfree_skb_any(skb);
		return NULL;
	}
	skb->protocol = eth_type_trans(skb, netdev);
	return skb;
}

static int ptnet_rx_poll(struct napi_struct *napi, int budget)
{
	struct ptnet_ring *r = container_of(napi, struct ptnet_ring, napi);
	struct net_device *netdev = r->pt->netdev;
	struct netmap_kring *kring = r->kring;
	struct netmap_slot *slots = nm_ring_slots(kring->ring);
	u32 n = kring->num_slots;
	int done = 0;

	ptnet_ring_pull(r);
	while (done < budget && kring->rhead != kring->nr_hwtail) {
		struct netmap_slot *slot = &slots[kring->rhead];
		struct sk_buff *skb = NULL;

		if (unlikely(READ_ONCE(slot->flags) & NS_MOREFRAG))
			netdev->stats.rx_length_errors++;	/* one slot only */
		else
			skb = ptnet_rx_frame(r, slot);
		if (skb) {
			netdev->stats.rx_packets++;
			netdev->stats.rx_bytes += skb->len;
			napi_gro_receive(napi, skb);
		}
		kring->rhead = nm_next(kring->rhead, n);
		done++;
	}
	if (done) {
		kring->rcur = kring->rhead;
		kring->nr_hwcur = kring->rhead;
		kring->rtail = kring->nr_hwtail;
		ptnet_ring_publish(r, kring->rhead, kring->rcur);
		ptnet_ring_kick(r);
	}
	if (done < budget && napi_complete_done(napi, done) &&
	    ptnet_ring_arm(r, kring->rhead))
		napi_schedule(napi);
	return done;
}

/* ---------------------------------------------------------------------- */
/* Interrupts, hand-over, open and stop                                    */
/* ---------------------------------------------------------------------- */

irqreturn_t ptnet_irq(int irq, void *data)
{
	struct ptnet_ring *r = data;
	struct ptnet_dev *pt = r->pt;

	if (!r->kring)
		return IRQ_NONE;
	if (READ_ONCE(pt->nm_active)) {
		netmap_kring_wake(r->kring);
	} else if (r->kring->tx == NM_RX) {
		napi_schedule(&r->napi);
	} else {
		struct netdev_queue *txq =
			netdev_get_tx_queue(pt->netdev, r->kring->ring_id);

		if (netif_tx_queue_stopped(txq))
			netif_tx_wake_queue(txq);
	}
	return IRQ_HANDLED;
}

/* The netdev stops using the rings. pt->lock held. */
void ptnet_netdev_quiesce(struct ptnet_dev *pt)
{
	u32 i;

	lockdep_assert_held(&pt->lock);
	if (!pt->netdev_up || pt->nm_active)
		return;
	netif_tx_disable(pt->netdev);
	for (i = 0; i < pt->nrings[NM_RX]; i++) {
		napi_disable(&pt->rings[NM_RX][i].napi);
		ptnet_ring_disarm(&pt->rings[NM_RX][i]);
	}
	for (i = 0; i < pt->nrings[NM_TX]; i++)
		ptnet_ring_disarm(&pt->rings[NM_TX][i]);
}

/* The netdev uses the rings (again). pt->lock held, !pt->nm_active. */
void ptnet_netdev_resume(struct ptnet_dev *pt)
{
	u32 i;

	lockdep_assert_held(&pt->lock);
	if (!pt->netdev_up || pt->nm_active)
		return;
	for (i = 0; i < pt->nrings[NM_RX]; i++) {
		struct ptnet_ring *r = &pt->rings[NM_RX][i];

		/* A binding may have left cur ahead of head: not ours. */
		spin_lock(&r->kring->lock);
		r->kring->rcur = r->kring->rhead;
		spin_unlock(&r->kring->lock);
		napi_enable(&r->napi);
		local_bh_disable();
		napi_schedule(&r->napi);
		local_bh_enable();
	}
	for (i = 0; i < pt->nrings[NM_TX]; i++) {
		struct netmap_kring *kring = pt->rings[NM_TX][i].kring;

		spin_lock(&kring->lock);
		kring->rcur = kring->rhead;
		spin_unlock(&kring->lock);
	}
	netif_tx_wake_all_queues(pt->netdev);
}

static int ptnet_open(struct net_device *netdev)
{
	struct ptnet_dev *pt = ptnet_of(netdev);
	int err;

	mutex_lock(&pt->lock);
	err = ptnet_get(pt);
	if (!err) {
		pt->netdev_up = true;
		ptnet_netdev_resume(pt);
		netif_carrier_on(netdev);
	}
	mutex_unlock(&pt->lock);
	return err;
}

static int ptnet_stop(struct net_device *netdev)
{
	struct ptnet_dev *pt = ptnet_of(netdev);

	mutex_lock(&pt->lock);
	netif_carrier_off(netdev);
	ptnet_netdev_quiesce(pt);
	pt->netdev_up = false;
	ptnet_put(pt);
	mutex_unlock(&pt->lock);
	return 0;
}

/* A host that stopped taking frames: say so; the queue stays as it is. */
static void ptnet_tx_timeout(struct net_device *netdev, unsigned int q)
{
	struct ptnet_dev *pt = ptnet_of(netdev);
	struct netmap_kring *kring = pt->rings[NM_TX][q].kring;

	netdev->stats.tx_errors++;
	netdev_warn(netdev, "tx ring %u: the host took no frame (head %u, hwtail %u, %llu kicks)\n",
		    q, kring->rhead, kring->nr_hwtail, pt->rings[NM_TX][q].kicks);
}

static const struct net_device_ops ptnet_netdev_ops = {
	.ndo_open = ptnet_open,
	.ndo_stop = ptnet_stop,
	.ndo_start_xmit = ptnet_xmit,
	.ndo_tx_timeout = ptnet_tx_timeout,
	.ndo_validate_addr = eth_validate_addr,
	.ndo_set_mac_address = eth_mac_addr,
};

/**
 * ptnet_netdev_alloc() - the netdev of a device being probed
 * @pt: the device; its ring count is not known yet, so the netdev gets
 *	the most queues a ptnet device can have, and the probe sets the real
 *	numbers
 *
 * Return: the netdev, not registered, or NULL.
 */
struct net_device *ptnet_netdev_alloc(struct ptnet_dev *pt)
{
	struct net_device *netdev;

	netdev = alloc_etherdev_mqs(sizeof(struct ptnet_netdev_priv),
				    NM_MAX_RINGS, NM_MAX_RINGS);
	if (!netdev)
		return NULL;
	((struct ptnet_netdev_priv *)netdev_priv(netdev))->pt = pt;
	netdev->netdev_ops = &ptnet_netdev_ops;
	netdev->watchdog_timeo = 5 * HZ;
	netdev->min_mtu = ETH_MIN_MTU;
	return netdev;
}

/* Called by the probe once the rings exist: one NAPI per rx ring. */
void ptnet_netdev_napi_add(struct ptnet_dev *pt)
{
	u32 i;

	for (i = 0; i < pt->nrings[NM_RX]; i++)
		netif_napi_add_weight(pt->netdev, &pt->rings[NM_RX][i].napi,
				      ptnet_rx_poll, ptnet_napi_weight);
}
