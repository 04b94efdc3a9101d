// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The netdev of a persistent VALE port (VALE_NEWIF): an Ethernet device
 * named after the port, with a random MAC address, in the network
 * namespace of its creator (and staying there).
 *
 * It is the other end of the port, like a NIC is the other end of its
 * netmap rings:
 *   - what the host stack transmits on it lands in the port's rx ring 0,
 *     as if the switch had delivered it (with a zeroed virtio-net header
 *     when the port has one), or is dropped when the port is not bound or
 *     its ring is full;
 *   - what the port transmits while it is in no switch is received by the
 *     host stack on the device (the header, if any, applied with
 *     virtio_net_hdr_to_skb()). In a switch, the port's frames go to the
 *     switch instead.
 * The device has no offloads, so the stack hands it plain, checksummed
 * frames.
 *
 * Lifetime: the port owns the device; the device points to the port under
 * RCU (the xmit path). Registration and unregistration run with
 * netmap_lock held (netmap_lock nests outside rtnl_lock).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/etherdevice.h>
#include <linux/netdevice.h>
#include <linux/nsproxy.h>
#include <linux/rtnetlink.h>
#include <linux/skbuff.h>
#include <linux/virtio_net.h>
#include <net/net_namespace.h>

#include "compat.h"
#include "vale.h"

/**
 * struct vale_ndev - the private part of the netdev
 * @vp: the port (RCU; NULL once the port lets go)
 * @tx_packets: frames the stack sent that reached the port
 * @tx_bytes: their bytes
 * @tx_dropped: frames the stack sent that did not
 * @rx_packets: frames the port sent to the stack
 * @rx_bytes: their bytes
 * @rx_dropped: frames the port sent that were lost
 */
struct vale_ndev {
	struct vale_port __rcu *vp;
	atomic64_t tx_packets;
	atomic64_t tx_bytes;
	atomic64_t tx_dropped;
	atomic64_t rx_packets;
	atomic64_t rx_bytes;
	atomic64_t rx_dropped;
};

/* ---------------------------------------------------------------------- */
/* The stack transmits: into the port's rx ring                           */
/* ---------------------------------------------------------------------- */

/* Copy @len bytes of @skb from @off into buffer @idx at @pos. */
static bool vale_skb_to_buf(struct netmap_mem *mem, u32 idx, u32 pos,
			    const struct sk_buff *skb, u32 off, u32 len)
{
	while (len) {
		u32 n = len;
		void *dst = netmap_buf_chunk(mem, idx, pos, &n);

		if (!dst || skb_copy_bits(skb, off, dst, n))
			return false;
		pos += n;
		off += n;
		len -= n;
	}
	return true;
}

/* The frame of @skb, after a zeroed header of @hl bytes, from slot @j. */
static bool vale_skb_copy(struct netmap_kring *dk, u32 j, u32 need, u32 hl,
			  const struct sk_buff *skb)
{
	struct netmap_slot *ds = nm_ring_slots(dk->ring);
	struct netmap_mem *mem = dk->port->mem;
	u8 hdr[VALE_HDR_MAX] = {};
	u32 k, s, off = 0, bs = dk->buf_size;

	for (k = 0, s = j; k < need; k++, s = nm_next(s, dk->num_slots)) {
		u32 idx = READ_ONCE(ds[s].buf_idx);

		if (idx < NM_RESERVED_BUFS || idx >= dk->nbufs)
			return false;
	}
	if (hl == sizeof(struct virtio_net_hdr_mrg_rxbuf))
		put_unaligned_le16(1, hdr + sizeof(struct virtio_net_hdr));
	for (k = 0, s = j; k < need; k++, s = nm_next(s, dk->num_slots)) {
		u32 idx = READ_ONCE(ds[s].buf_idx), pos = 0, c;

		if (!k) {
			if (hl && netmap_buf_write(mem, idx, 0, hdr, hl))
				return false;
			pos = hl;
		}
		c = min(bs - pos, skb->len - off);
		if (!vale_skb_to_buf(mem, idx, pos, skb, off, c))
			return false;
		off += c;
		ds[s].len = pos + c;
		ds[s].flags = k + 1 < need ? NS_MOREFRAG : 0;
	}
	return true;
}

/* Deliver @skb into ring 0 of @vp, as the switch would. */
static bool vale_skb_deliver(struct vale_port *vp, const struct sk_buff *skb)
{
	struct vale_dst *d = &vp->m.dst[0];
	u32 hl = READ_ONCE(vp->m.hdr_len);
	struct netmap_kring *dk;
	bool ok = false;
	u32 n, need, room;

	spin_lock_bh(&d->lock);
	if (!d->live)
		goto out;
	dk = d->kring;
	n = dk->num_slots;
	need = DIV_ROUND_UP(skb->len + hl, dk->buf_size);
	room = n - 1 - nm_dist(smp_load_acquire(&dk->nr_hwcur), d->fill, n);
	if (need > room || need > NM_MAX_FRAGS)
		goto out;
	ok = vale_skb_copy(dk, d->fill, need, hl, skb);
	if (ok) {
		netmap_monitor_landed(dk, d->fill, (d->fill + need) % n);
		smp_store_release(&d->fill, (d->fill + need) % n);
	}
out:
	if (!ok)
		d->drops++;
	spin_unlock_bh(&d->lock);
	if (ok)
		netmap_kring_wake(d->kring);
	return ok;
}

static netdev_tx_t vale_ndev_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct vale_ndev *nd = netdev_priv(dev);
	struct vale_port *vp;
	bool ok = false;

	rcu_read_lock();
	vp = rcu_dereference(nd->vp);
	if (vp)
		ok = vale_skb_deliver(vp, skb);
	rcu_read_unlock();
	if (ok) {
		atomic64_inc(&nd->tx_packets);
		atomic64_add(skb->len, &nd->tx_bytes);
		consume_skb(skb);
	} else {
		atomic64_inc(&nd->tx_dropped);
		kfree_skb(skb);
	}
	return NETDEV_TX_OK;
}

/* ---------------------------------------------------------------------- */
/* The port transmits out of any switch: to the stack                     */
/* ---------------------------------------------------------------------- */

/* One packet of @k slots from @i to the stack. */
static void vale_ring_to_stack(struct vale_port *vp, struct net_device *dev,
			       struct netmap_kring *kring, u32 i, u32 k)
{
	struct netmap_slot *slot = nm_ring_slots(kring->ring);
	struct vale_ndev *nd = netdev_priv(dev);
	struct netmap_mem *mem = kring->port->mem;
	u32 hl = READ_ONCE(vp->m.hdr_len);
	struct virtio_net_hdr vh = {};
	u32 f, s, total = 0, skip = hl;
	struct sk_buff *skb;

	for (f = 0, s = i; f < k; f++, s = nm_next(s, kring->num_slots)) {
		u32 idx = READ_ONCE(slot[s].buf_idx);
		u32 len = READ_ONCE(slot[s].len);

		if (idx < NM_RESERVED_BUFS || idx >= kring->nbufs ||
		    len > kring->buf_size)
			goto drop;
		total += len;
	}
	if (total < hl + ETH_HLEN)
		goto drop;
	skb = netdev_alloc_skb_ip_align(dev, total - hl);
	if (!skb)
		goto drop;
	for (f = 0, s = i; f < k; f++, s = nm_next(s, kring->num_slots)) {
		u32 idx = READ_ONCE(slot[s].buf_idx);
		u32 len = min_t(u32, READ_ONCE(slot[s].len), kring->buf_size);
		u32 off = min(skip, len);

		if (f == 0 && hl &&
		    netmap_buf_read(mem, idx, 0, &vh, sizeof(vh)))
			goto free;
		skip -= off;
		if (len - off > skb_tailroom(skb))
			goto free;
		if (netmap_buf_read(mem, idx, off, skb_put(skb, len - off),
				    len - off))
			goto free;
	}
	if (skb->len < ETH_HLEN)
		goto free;
	if (hl && virtio_net_hdr_to_skb(skb, &vh, true))
		goto free;
	skb->protocol = eth_type_trans(skb, dev);
	atomic64_inc(&nd->rx_packets);
	atomic64_add(skb->len + ETH_HLEN, &nd->rx_bytes);
	netif_rx(skb);
	return;
free:
	kfree_skb(skb);
drop:
	atomic64_inc(&nd->rx_dropped);
}

/**
 * vale_netdev_rx() - frames of a persistent port in no switch, to its netdev
 * @vp: the port
 * @kring: one of its tx rings, in its txsync
 * @first: the first slot to send
 * @avail: slots from @first on
 *
 * Return: the slots consumed (a trailing incomplete chain waits).
 */
u32 vale_netdev_rx(struct vale_port *vp, struct netmap_kring *kring,
		   u32 first, u32 avail)
{
	struct netmap_slot *slot = nm_ring_slots(kring->ring);
	u32 n = kring->num_slots, used = 0, i = first;

	while (used < avail) {
		u32 j = i, k = 0;
		u16 flags;

		do {
			flags = READ_ONCE(slot[j].flags);
			j = nm_next(j, n);
			k++;
		} while ((flags & NS_MOREFRAG) && used + k < avail &&
			 k < NM_MAX_FRAGS);
		if (flags & NS_MOREFRAG) {
			if (used + k == avail && k < NM_MAX_FRAGS)
				break;
		} else {
			vale_ring_to_stack(vp, vp->netdev, kring, i, k);
		}
		i = j;
		used += k;
	}
	return used;
}

/* ---------------------------------------------------------------------- */
/* The device                                                              */
/* ---------------------------------------------------------------------- */

static int vale_ndev_open(struct net_device *dev)
{
	netif_start_queue(dev);
	return 0;
}

static int vale_ndev_stop(struct net_device *dev)
{
	netif_stop_queue(dev);
	return 0;
}

static void vale_ndev_stats(struct net_device *dev,
			    struct rtnl_link_stats64 *st)
{
	struct vale_ndev *nd = netdev_priv(dev);

	st->tx_packets = atomic64_read(&nd->tx_packets);
	st->tx_bytes = atomic64_read(&nd->tx_bytes);
	st->tx_dropped = atomic64_read(&nd->tx_dropped);
	st->rx_packets = atomic64_read(&nd->rx_packets);
	st->rx_bytes = atomic64_read(&nd->rx_bytes);
	st->rx_dropped = atomic64_read(&nd->rx_dropped);
}

static const struct net_device_ops vale_ndev_ops = {
	.ndo_open = vale_ndev_open,
	.ndo_stop = vale_ndev_stop,
	.ndo_start_xmit = vale_ndev_xmit,
	.ndo_get_stats64 = vale_ndev_stats,
	.ndo_set_mac_address = eth_mac_addr,
	.ndo_validate_addr = eth_validate_addr,
};

static void vale_ndev_setup(struct net_device *dev)
{
	ether_setup(dev);
	dev->netdev_ops = &vale_ndev_ops;
	dev->priv_flags |= IFF_NO_QUEUE;
	dev->tx_queue_len = 0;
	dev->min_mtu = ETH_MIN_MTU;
	dev->max_mtu = ETH_DATA_LEN;
	nm_netdev_set_netns_local(dev);
	eth_hw_addr_random(dev);
}

/**
 * vale_netdev_exists() - whether a netdev of the caller's namespace has
 *	the name @name
 * @name: NUL-terminated
 *
 * Return: true when one does.
 */
bool vale_netdev_exists(const char *name)
{
	bool found;

	rcu_read_lock();
	found = dev_get_by_name_rcu(current->nsproxy->net_ns, name);
	rcu_read_unlock();
	return found;
}

/**
 * vale_netdev_new() - a netdev for a persistent port, not registered yet
 * @name: its name
 *
 * Return: the device or an ERR_PTR().
 */
struct net_device *vale_netdev_new(const char *name)
{
	struct net_device *dev;

	dev = alloc_netdev(sizeof(struct vale_ndev), name, NET_NAME_USER,
			   vale_ndev_setup);
	if (!dev)
		return ERR_PTR(-ENOMEM);
	dev_net_set(dev, current->nsproxy->net_ns);
	return dev;
}

/**
 * vale_netdev_register() - make the device of @vp visible
 * @dev: from vale_netdev_new()
 * @vp: the port it belongs to
 *
 * Return: 0, or -EEXIST when a device has the name, or another error of
 * register_netdev().
 */
int vale_netdev_register(struct net_device *dev, struct vale_port *vp)
{
	struct vale_ndev *nd = netdev_priv(dev);

	rcu_assign_pointer(nd->vp, vp);
	return register_netdev(dev);
}

/**
 * vale_netdev_delete() - unregister (if registered) and free the device
 * @dev: the device
 *
 * Once it returns, no xmit of the device runs any more.
 */
void vale_netdev_delete(struct net_device *dev)
{
	struct vale_ndev *nd = netdev_priv(dev);

	if (dev->reg_state == NETREG_REGISTERED)
		unregister_netdev(dev);
	RCU_INIT_POINTER(nd->vp, NULL);
	free_netdev(dev);
}
