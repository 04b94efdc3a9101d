// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Binding a descriptor to a port: the ring range a registration selects,
 * the descriptor's netmap_if, its extra buffers, exclusivity, and the
 * syncs that act on the bound rings (poll is in poll.c).
 *
 * A descriptor binds once; the binding lasts until release. Binding and
 * unbinding run under priv->lock and netmap_lock. priv->port is published
 * last, with release semantics, so the sync and poll paths (which take no
 * mutex) see a complete binding or none.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/fs.h>
#include <linux/string.h>

#include "netmap_kern.h"

/**
 * netmap_port_fill_info() - report a port's geometry in a request body
 * @port: the port
 * @reg: the register or port-info body to fill
 *
 * Host rings are reported only by the ports that have them: pipes (whose
 * netmap_if shows 1/1) and VALE ports report 0/0, as in netmap.
 */
void netmap_port_fill_info(struct netmap_port *port,
			   struct nmreq_register *reg)
{
	reg->nr_offset = 0;
	reg->nr_memsize = port->mem->size;
	reg->nr_tx_slots = port->nslots[NM_TX];
	reg->nr_rx_slots = port->nslots[NM_RX];
	reg->nr_tx_rings = port->nrings[NM_TX];
	reg->nr_rx_rings = port->nrings[NM_RX];
	reg->nr_host_tx_rings = port->host_reported ? port->nhost[NM_TX] : 0;
	reg->nr_host_rx_rings = port->host_reported ? port->nhost[NM_RX] : 0;
	reg->nr_mem_id = port->mem->id;
}

/*
 * The kernel rings a registration binds, as [first, last) per direction,
 * indices into port->krings[t] (hardware rings, then host rings). The host
 * rings can be bound only on ports that have them (port->host_rings);
 * elsewhere the modes that select them are refused, as are
 * NR_REG_DEFAULT, the deprecated pipe modes (the legacy API translates
 * them into names) and unknown modes. ONE_SW ring k needs host ring k in
 * one direction at least; a direction without it binds its host ring 0.
 * NR_TX_RINGS_ONLY and NR_RX_RINGS_ONLY leave the other direction without
 * any ring.
 */
static int nm_ring_range_host(struct netmap_port *port,
			      const struct nmreq_register *reg,
			      u32 first[NM_NDIR], u32 last[NM_NDIR])
{
	u32 id = reg->nr_ringid;
	enum nm_txrx t;

	if (!port->host_rings)
		return -EINVAL;
	if (reg->nr_mode == NR_REG_ONE_SW &&
	    id >= port->nhost[NM_TX] && id >= port->nhost[NM_RX])
		return -EINVAL;
	for_each_dir(t) {
		u32 hw = port->nrings[t], host = port->nhost[t];

		switch (reg->nr_mode) {
		case NR_REG_SW:
			first[t] = hw;
			last[t] = hw + host;
			break;
		case NR_REG_NIC_SW:
			first[t] = 0;
			last[t] = hw + host;
			break;
		default:	/* NR_REG_ONE_SW */
			first[t] = hw + (id < host ? id : 0);
			last[t] = first[t] + 1;
			break;
		}
	}
	return 0;
}

int netmap_ring_range(struct netmap_port *port,
		      const struct nmreq_register *reg,
		      u32 first[NM_NDIR], u32 last[NM_NDIR])
{
	u64 only = reg->nr_flags & (NR_TX_RINGS_ONLY | NR_RX_RINGS_ONLY);
	u32 id = reg->nr_ringid;
	enum nm_txrx t;
	int err;

	switch (reg->nr_mode) {
	case NR_REG_ALL_NIC:
	case NR_REG_NULL:
		for_each_dir(t) {
			first[t] = 0;
			last[t] = port->nrings[t];
		}
		break;
	case NR_REG_ONE_NIC:
		/* A direction without ring @id binds its ring 0. */
		if (id >= port->nrings[NM_TX] && id >= port->nrings[NM_RX])
			return -EINVAL;
		for_each_dir(t) {
			first[t] = id < port->nrings[t] ? id : 0;
			last[t] = first[t] + 1;
		}
		break;
	case NR_REG_SW:
	case NR_REG_NIC_SW:
	case NR_REG_ONE_SW:
		err = nm_ring_range_host(port, reg, first, last);
		if (err)
			return err;
		break;
	default:
		return -EINVAL;
	}
	if (only == (NR_TX_RINGS_ONLY | NR_RX_RINGS_ONLY))
		return -EINVAL;
	if (only == NR_TX_RINGS_ONLY)
		first[NM_RX] = last[NM_RX] = 0;
	if (only == NR_RX_RINGS_ONLY)
		first[NM_TX] = last[NM_TX] = 0;
	/* Only a null port, made with no rings, may bind none. */
	if (first[NM_TX] == last[NM_TX] && first[NM_RX] == last[NM_RX] &&
	    reg->nr_mode != NR_REG_NULL)
		return -EINVAL;
	return 0;
}

#define for_each_bound_kring(priv, port, t, i)				\
	for_each_dir(t)							\
		for ((i) = (priv)->first[t]; (i) < (priv)->last[t]; (i)++)

/*
 * The descriptor's netmap_if: every ring of the port is counted, only the
 * bound ones get a ring_ofs (the others read 0).
 */
static int nm_if_new(struct netmap_priv *priv, struct netmap_port *port)
{
	struct netmap_mem *mem = port->mem;
	u32 ntx = port->nrings[NM_TX], nrx = port->nrings[NM_RX];
	u32 nhtx = port->nhost[NM_TX], nhrx = port->nhost[NM_RX];
	struct netmap_if *nifp;
	enum nm_txrx t;
	ssize_t *ofs;
	u64 base;
	int idx;
	u32 i;

	if (ntx + nhtx + nrx + nhrx > netmap_mem_max_if_rings(mem))
		return -EINVAL;
	netmap_mem_lock(mem);
	idx = netmap_obj_alloc_locked(mem, NM_POOL_IF);
	nifp = idx < 0 ? NULL : netmap_obj_map_locked(mem, NM_POOL_IF, idx);
	if (idx >= 0 && !nifp) {
		netmap_obj_free_locked(mem, NM_POOL_IF, idx);
		idx = -ENOMEM;
	}
	netmap_mem_unlock(mem);
	if (idx < 0)
		return idx;
	base = netmap_obj_offset(mem, NM_POOL_IF, idx);
	memset((void *)nifp, 0, mem->pools[NM_POOL_IF].objsize);
	strscpy(nifp->ni_name, port->name, sizeof(nifp->ni_name));
	nifp->ni_version = NETMAP_API;
	nifp->ni_flags = mem->is_private ? NI_PRIV_MEM : 0;
	nifp->ni_tx_rings = ntx;
	nifp->ni_rx_rings = nrx;
	nifp->ni_host_tx_rings = nhtx;
	nifp->ni_host_rx_rings = nhrx;
	ofs = nm_if_ring_ofs(nifp);
	for_each_bound_kring(priv, port, t, i) {
		struct netmap_kring *kring = &port->krings[t][i];
		u32 slot = t == NM_TX ? i : ntx + nhtx + i;

		ofs[slot] = netmap_obj_offset(mem, NM_POOL_RING,
					      kring->ring_idx) - base;
	}
	priv->nifp = nifp;
	priv->nifp_idx = idx;
	priv->nifp_ofs = base;
	return 0;
}

/* A ptnet guest port: every binding uses the host port's netmap_if. */
static int nm_if_pt(struct netmap_priv *priv, struct netmap_port *port)
{
	priv->nifp = port->pt_nifp;
	priv->nifp_idx = 0;
	priv->nifp_ofs = port->pt_nifp_ofs;
	return 0;
}

static void nm_if_delete(struct netmap_priv *priv)
{
	if (priv->bound->pt_nifp) {
		priv->nifp = NULL;
		return;
	}
	netmap_mem_lock(priv->mem);
	netmap_obj_unmap_locked(priv->mem, priv->nifp);
	netmap_obj_free_locked(priv->mem, NM_POOL_IF, priv->nifp_idx);
	netmap_mem_unlock(priv->mem);
	priv->nifp = NULL;
}

/*
 * One registration gets at most this fraction of a region's buffers as
 * extra buffers, so that a huge request neither starves the region nor
 * makes the kernel touch every page of it.
 */
#define NM_EXTRA_BUFS_DIV	4

/*
 * Up to @want extra buffers, linked through their first u32 from
 * ni_bufs_head (0 ends the list). Returns how many were granted: as many as
 * the region has free, within the bound above.
 */
static u32 nm_extra_bufs_alloc(struct netmap_mem *mem, struct netmap_if *nifp,
			       u32 want)
{
	u32 head = 0, got;

	netmap_mem_lock(mem);
	want = min(want, mem->pools[NM_POOL_BUF].objtotal / NM_EXTRA_BUFS_DIV);
	for (got = 0; got < want; got++) {
		int b = netmap_obj_alloc_locked(mem, NM_POOL_BUF);
		u32 *link;

		if (b < 0)
			break;
		link = netmap_buf_link_locked(mem, b);
		if (!link) {
			netmap_obj_free_locked(mem, NM_POOL_BUF, b);
			break;
		}
		*link = head;
		head = b;
	}
	netmap_mem_unlock(mem);
	nifp->ni_bufs_head = head;
	return got;
}

/*
 * Free the extra-buffer list as userspace left it. Every link is checked;
 * the walk stops at 0, at an invalid index or at a buffer that is not
 * allocated (a loop, or a buffer listed twice), so it ends after at most
 * one step per buffer of the region.
 */
static void nm_extra_bufs_free(struct netmap_mem *mem, struct netmap_if *nifp)
{
	u32 idx = READ_ONCE(nifp->ni_bufs_head);

	netmap_mem_lock(mem);
	while (netmap_buf_idx_ok(mem, idx)) {
		u32 *link = netmap_buf_link_locked(mem, idx);
		u32 next = link ? READ_ONCE(*link) : 0;

		if (!netmap_obj_free_locked(mem, NM_POOL_BUF, idx))
			break;
		idx = next;
	}
	netmap_mem_unlock(mem);
}

static int nm_bind(struct netmap_priv *priv, struct netmap_port *port,
		   struct nmreq_register *reg)
{
	bool excl = reg->nr_flags & NR_EXCLUSIVE;
	struct netmap_kring *kring;
	enum nm_txrx t;
	u32 i;
	int err;

	err = netmap_ring_range(port, reg, priv->first, priv->last);
	if (err)
		return err;
	if (!port->ops->activate)
		return -EINVAL;
	for_each_bound_kring(priv, port, t, i) {
		kring = &port->krings[t][i];
		if (kring->exclusive || (excl && kring->users))
			return -EBUSY;
	}
	if (!port->users) {
		err = port->ops->activate(port);
		if (err)
			return err;
	}
	port->users++;
	err = port->pt_nifp ? nm_if_pt(priv, port) : nm_if_new(priv, port);
	if (err) {
		if (!--port->users)
			port->ops->deactivate(port);
		return err;
	}
	reg->nr_extra_bufs = port->pt_nifp ? 0 :
			     nm_extra_bufs_alloc(port->mem, priv->nifp,
						 reg->nr_extra_bufs);
	for_each_bound_kring(priv, port, t, i) {
		kring = &port->krings[t][i];
		if (!kring->users++) {
			netmap_kring_user_reset(kring);
			netmap_offsets_reset(kring);
		}
		if (excl)
			kring->exclusive = true;
	}
	netmap_mem_get(port->mem);
	priv->mem = port->mem;
	priv->flags = reg->nr_flags;
	netmap_port_fill_info(port, reg);
	reg->nr_offset = priv->nifp_ofs;
	priv->bound = port;
	return 0;
}

/*
 * A port whose frames carry a virtio-net header (PORT_HDR_SET) is bound
 * only by those who say they handle it (NR_ACCEPT_VNET_HDR).
 */
static bool nm_hdr_accepted(struct netmap_port *port,
			    const struct nmreq_register *reg)
{
	return !port->ops->hdr_get || !port->ops->hdr_get(port) ||
	       (reg->nr_flags & NR_ACCEPT_VNET_HDR);
}

static void nm_unbind(struct netmap_priv *priv);

/**
 * netmap_register_mem() - bind a descriptor to the port @name
 * @priv: the descriptor, with priv->lock held
 * @name: the port name, NUL-terminated
 * @reg: the request; on success it is filled with the results
 * @ext: the region of the request's EXTMEM option, or NULL: the ports the
 *	lookup creates take it (then nr_mem_id is not looked at)
 *
 * Return: 0, -EBUSY when the descriptor is already bound or the rings are
 * held exclusively (or exclusivity is asked on rings in use), -EIO when
 * the port has a virtio-net header and @reg lacks NR_ACCEPT_VNET_HDR,
 * -EINVAL, -ENXIO, -EOPNOTSUPP or -ENOMEM.
 */
int netmap_register_mem(struct netmap_priv *priv, const char *name,
			struct nmreq_register *reg, struct netmap_mem *ext)
{
	struct netmap_port *port;
	int err;

	lockdep_assert_held(&priv->lock);
	if (priv->bound)
		return -EBUSY;
	if (ext)
		reg->nr_mem_id = 0;
	mutex_lock(&netmap_lock);
	netmap_extmem_pending = ext;
	err = netmap_port_lookup(name, reg, &port);
	netmap_extmem_pending = NULL;
	if (!err) {
		err = nm_bind(priv, port, reg);
		if (err)
			netmap_port_put(port);
	}
	mutex_unlock(&netmap_lock);
	if (!err && !nm_hdr_accepted(port, reg)) {
		nm_unbind(priv);
		err = -EIO;
	}
	return err;
}

/* netmap_register_mem() without a region of the caller's. */
int netmap_register(struct netmap_priv *priv, const char *name,
		    struct nmreq_register *reg)
{
	return netmap_register_mem(priv, name, reg, NULL);
}

/* Undo nm_bind(). priv->lock held, or the descriptor is being released. */
static void nm_unbind(struct netmap_priv *priv)
{
	struct netmap_port *port = priv->bound;
	struct netmap_mem *mem = priv->mem;
	struct netmap_kring *kring;
	enum nm_txrx t;
	u32 i;

	netmap_csb_release(priv);
	mutex_lock(&netmap_lock);
	if (!port->pt_nifp)
		nm_extra_bufs_free(mem, priv->nifp);
	nm_if_delete(priv);
	for_each_bound_kring(priv, port, t, i) {
		kring = &port->krings[t][i];
		kring->users--;
		if (priv->flags & NR_EXCLUSIVE)
			kring->exclusive = false;
	}
	if (!--port->users) {
		netmap_monitor_parent_off(port);
		port->ops->deactivate(port);
	}
	netmap_port_put(port);
	mutex_unlock(&netmap_lock);
	priv->bound = NULL;
	priv->mem = NULL;
	netmap_mem_put(mem);
}

/**
 * netmap_register_finish() - complete a registration
 * @priv: the descriptor, with priv->lock held, just bound by
 *	netmap_register()
 * @err: 0 when the results reached userspace: publish the binding;
 *	otherwise undo it
 */
void netmap_register_finish(struct netmap_priv *priv, int err)
{
	lockdep_assert_held(&priv->lock);
	if (err)
		nm_unbind(priv);
	else
		smp_store_release(&priv->port, priv->bound);
}

/**
 * netmap_unregister() - undo the binding of a descriptor being released
 * @priv: the descriptor; nobody else can reach it any more
 */
void netmap_unregister(struct netmap_priv *priv)
{
	if (priv->bound)
		nm_unbind(priv);
	priv->port = NULL;
}

/**
 * netmap_priv_sync() - NIOCTXSYNC / NIOCRXSYNC on every bound ring
 * @priv: the descriptor
 * @t: the direction
 *
 * Return: 0, -ENXIO when not bound, -EINVAL when a ring was bad (each bad
 * ring is reinitialised; the others are synced anyway).
 */
int netmap_priv_sync(struct netmap_priv *priv, enum nm_txrx t)
{
	struct netmap_port *port = netmap_priv_port(priv);
	int err = 0;
	u32 i;

	if (!port)
		return -ENXIO;
	for (i = priv->first[t]; i < priv->last[t]; i++) {
		int e = netmap_kring_sync(&port->krings[t][i]);

		if (e && !err)
			err = e;
	}
	return err;
}
