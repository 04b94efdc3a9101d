// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The null port (nr_mode NR_REG_NULL): rings in an existing region and
 * nothing behind them. Its txsync consumes whatever it is handed and its
 * rxsync never receives. It gives a descriptor access to a region (and to
 * rings and buffers of its own there) without a real port.
 *
 * Each request makes a new, nameless-to-others null port: it is not in the
 * registry and dies with the last reference (the binding, or the lookup of
 * a PORT_INFO_GET). All of it runs under netmap_lock, except the syncs,
 * which run under their ring's lock.
 */
#include <linux/errno.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "netmap_kern.h"

static int nm_null_txsync(struct netmap_kring *kring)
{
	kring->nr_hwcur = kring->rhead;
	kring->nr_hwtail = nm_back(kring->rhead, 1, kring->num_slots);
	return 0;
}

static int nm_null_rxsync(struct netmap_kring *kring)
{
	kring->nr_hwcur = kring->rhead;
	return 0;
}

static int nm_null_activate(struct netmap_port *port)
{
	return netmap_port_rings_create(port);
}

static void nm_null_deactivate(struct netmap_port *port)
{
	netmap_port_rings_delete(port);
}

static void nm_null_dtor(struct netmap_port *port)
{
	netmap_port_krings_free(port);
	netmap_mem_put(port->mem);
	netmap_port_fini(port);
	kfree(port);
}

static const struct netmap_port_ops nm_null_ops = {
	.activate = nm_null_activate,
	.deactivate = nm_null_deactivate,
	.txsync = nm_null_txsync,
	.rxsync = nm_null_rxsync,
	.dtor = nm_null_dtor,
};

/*
 * Slots per ring of one direction: as asked, within the region's limits;
 * 0 stays 0 only for a direction without rings (a ring needs slots).
 */
static u32 nm_null_slots(u32 want, u32 rings, u32 max_slots)
{
	if (!want && !rings)
		return 0;
	return netmap_bound_value(want, NM_DEFAULT_SLOTS, NM_MIN_SLOTS,
				  max_slots);
}

/**
 * netmap_null_get() - make a null port for a request
 * @name: its name (plain port-name rules)
 * @reg: the request: nr_mem_id must name an existing region; ring counts
 *	are taken as given (0 too: the port then has no ring in that
 *	direction, and a binding gets none) up to NM_MAX_RINGS; slot
 *	counts within the region's limits
 * @portp: the new port, with one reference
 *
 * netmap_lock held.
 *
 * Return: 0, -EINVAL (bad name, no such region), -EPERM (a region netdevs
 * use, perm.c) or -ENOMEM.
 */
int netmap_null_get(const char *name, const struct nmreq_register *reg,
		    struct netmap_port **portp)
{
	struct netmap_port *port;
	struct netmap_mem *mem;
	u32 max_slots;
	int err;

	if (!netmap_port_name_ok(name) || !reg->nr_mem_id)
		return -EINVAL;
	mem = netmap_mem_find(reg->nr_mem_id);
	if (!mem)
		return -EINVAL;
	err = netmap_mem_admin(mem);
	if (err) {
		netmap_mem_put(mem);
		return err;
	}
	port = kzalloc(sizeof(*port), GFP_KERNEL);
	if (!port) {
		netmap_mem_put(mem);
		return -ENOMEM;
	}
	netmap_port_init(port, &nm_null_ops);
	strscpy(port->name, name, sizeof(port->name));
	port->mem = mem;
	max_slots = netmap_mem_max_slots(mem);
	port->nrings[NM_TX] = min_t(u32, reg->nr_tx_rings, NM_MAX_RINGS);
	port->nrings[NM_RX] = min_t(u32, reg->nr_rx_rings, NM_MAX_RINGS);
	/* Reported in netmap_if only, as netmap does; never bound. */
	port->nhost[NM_TX] = 1;
	port->nhost[NM_RX] = 1;
	port->nslots[NM_TX] = nm_null_slots(reg->nr_tx_slots,
					    port->nrings[NM_TX], max_slots);
	port->nslots[NM_RX] = nm_null_slots(reg->nr_rx_slots,
					    port->nrings[NM_RX], max_slots);
	err = netmap_port_krings_alloc(port);
	if (err) {
		netmap_port_put(port);
		return err;
	}
	*portp = port;
	return 0;
}
