// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * VALE switches and ports: the switch table, membership, the lifetime of
 * VALE ports and the resolution of "valeS:P" names.
 *
 * Names: every name that starts with "val" is a VALE name, "S:P". The
 * switch name S ends at the first ':', has the characters [0-9A-Za-z_]
 * only and at most VALE_NAME_MAX of them; the port part P has 1 to
 * VALE_NAME_MAX characters of any kind. A name whose switch part is bad
 * names no switch: a request that would create the port fails with
 * -ENOMEM (as when no switch can be made), any other with -ENXIO.
 *
 * Opening "S:P" (REGISTER, and the lookups of PORT_INFO_GET and
 * POOLS_INFO_GET) resolves, in this order, to:
 *   - the member of switch S listed as "S:P": a VALE port (an ephemeral
 *     one, or a persistent port P attached with VALE_ATTACH); a NIC or a
 *     port of another switch that S holds cannot be bound (-EBUSY);
 *   - nothing, when P is the name of a netdev of the caller's namespace
 *     (a NIC, or a persistent port): those join a switch with VALE_ATTACH
 *     only (-EINVAL). Other ports named P (a pipe's parent) do not count;
 *   - a new ephemeral port "S:P", which lives while it has references
 *     (bindings, lookups, pipes) and leaves the switch with the last one.
 * A switch is created with its first member and destroyed with its last.
 *
 * Limits (module parameters, checked when a member joins):
 * vale_max_switches switches (-ENOMEM beyond) of vale_max_ports members
 * each (-ENOMEM beyond).
 *
 * Every VALE port has a private memory region of its own: the switch
 * copies frames between regions, so no port ever sees another's memory.
 * A port created with an explicit nr_mem_id (REGISTER, PORT_INFO_GET or
 * VALE_NEWIF) has its rings in that existing region instead, as in
 * netmap: a shared region is what its creator asked for (and could map
 * anyway, as the null port), and the switch still copies. An id that
 * names no region is -EINVAL, and so is asking for a port that exists
 * in another region than the one named.
 *
 * Locking: netmap_lock protects the switch table, the members of every
 * switch and the membership of every port. The forwarders (vale_fwd.c)
 * read a switch's members under RCU, so a member that leaves is freed
 * after a grace period (call_rcu), and so is a switch. A member changes
 * switch only while it has no traffic of its own: a VALE port without
 * bindings, a NIC whose forwarding the switch stopped.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ctype.h>
#include <linux/errno.h>
#include <linux/if.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/moduleparam.h>
#include <linux/netdevice.h>
#include <linux/nsproxy.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <net/net_namespace.h>

#include "vale.h"

/* ---------------------------------------------------------------------- */
/* Module parameters                                                       */
/* ---------------------------------------------------------------------- */

static struct netmap_uint_param vale_max_switches = {
	8, 1, VALE_SWITCHES_MAX };
static struct netmap_uint_param vale_max_ports = {
	VALE_PORTS_MAX, 1, VALE_PORTS_MAX };
struct netmap_uint_param vale_age = { 300, 1, 86400 };

module_param_cb(vale_max_switches, &netmap_uint_param_ops,
		&vale_max_switches, 0644);
MODULE_PARM_DESC(vale_max_switches, "VALE switches at most (1-64)");
module_param_cb(vale_max_ports, &netmap_uint_param_ops, &vale_max_ports,
		0644);
MODULE_PARM_DESC(vale_max_ports, "ports per VALE switch at most (1-252)");
module_param_cb(vale_age, &netmap_uint_param_ops, &vale_age, 0644);
MODULE_PARM_DESC(vale_age,
		 "seconds a learned MAC address stays valid without traffic");

/* ---------------------------------------------------------------------- */
/* Names                                                                   */
/* ---------------------------------------------------------------------- */

static bool vale_word_char(char c)
{
	return isalnum(c) || c == '_';
}

/**
 * vale_name_split() - the switch part of a VALE name, checked
 * @name: NUL-terminated, starting with "val" (netmap_is_vale_name())
 * @sw: VALE_NAME_MAX + 1 bytes: the switch name, everything before the
 *	first ':'
 * @port: set to what follows the ':', inside @name
 *
 * The switch name is [0-9A-Za-z_]+ (with its prefix), at most
 * VALE_NAME_MAX characters: the ':' is within the first 16. The port part
 * is not looked at (vale_port_part_ok()).
 *
 * Return: whether the switch part is valid.
 */
bool vale_name_split(const char *name, char *sw, const char **port)
{
	const char *c;

	for (c = name; vale_word_char(*c); c++)
		;
	if (*c != ':' || c - name > VALE_NAME_MAX)
		return false;
	memcpy(sw, name, c - name);
	sw[c - name] = '\0';
	*port = c + 1;
	return true;
}

/*
 * The port part of a VALE name: 1 to VALE_NAME_MAX characters, any of
 * them (braces never get here: they make the name a pipe's).
 */
bool vale_port_part_ok(const char *port)
{
	size_t len = strnlen(port, VALE_NAME_MAX + 1);

	return len && len <= VALE_NAME_MAX;
}

/* ---------------------------------------------------------------------- */
/* Switches and members                                                    */
/* ---------------------------------------------------------------------- */

/* The switches, by VALE_LIST index. netmap_lock. */
static struct vale_switch *vale_switches[VALE_SWITCHES_MAX];
static unsigned int vale_nswitches;

struct vale_switch *vale_switch_find(const char *swname)
{
	unsigned int i;

	lockdep_assert_held(&netmap_lock);
	for (i = 0; i < VALE_SWITCHES_MAX; i++)
		if (vale_switches[i] && !strcmp(vale_switches[i]->name, swname))
			return vale_switches[i];
	return NULL;
}

/* The switch at table index @idx, or NULL. netmap_lock held. */
struct vale_switch *vale_switch_at(unsigned int idx)
{
	lockdep_assert_held(&netmap_lock);
	return idx < VALE_SWITCHES_MAX ? vale_switches[idx] : NULL;
}

static struct vale_member *vale_member_at(struct vale_switch *sw, u32 idx)
{
	return rcu_dereference_protected(sw->members[idx],
					 lockdep_is_held(&netmap_lock));
}

/**
 * vale_member_find() - the member of @sw listed as @name
 * @sw: the switch
 * @name: "valeS:P"
 *
 * netmap_lock held.
 *
 * Return: the member or NULL.
 */
struct vale_member *vale_member_find(struct vale_switch *sw, const char *name)
{
	struct vale_member *m;
	u32 i;

	for (i = 0; i < sw->hi; i++) {
		m = vale_member_at(sw, i);
		if (m && !strcmp(m->name, name))
			return m;
	}
	return NULL;
}

/*
 * Whether a member could join the switch @swname now: -ENOMEM when a new
 * switch would exceed the limit, or when the switch is full.
 */
int vale_member_room(const char *swname)
{
	struct vale_switch *sw = vale_switch_find(swname);

	if (!sw)
		return vale_nswitches >= READ_ONCE(vale_max_switches.val) ?
		       -ENOMEM : 0;
	return sw->nmembers >= READ_ONCE(vale_max_ports.val) ? -ENOMEM : 0;
}

static struct vale_switch *vale_switch_new(const char *swname)
{
	struct vale_switch *sw;
	unsigned int i;

	for (i = 0; i < VALE_SWITCHES_MAX && vale_switches[i]; i++)
		;
	if (i == VALE_SWITCHES_MAX)
		return ERR_PTR(-ENOMEM);
	sw = kvzalloc(sizeof(*sw), GFP_KERNEL);
	if (!sw)
		return ERR_PTR(-ENOMEM);
	strscpy(sw->name, swname, sizeof(sw->name));
	sw->idx = i;
	vale_switches[i] = sw;
	vale_nswitches++;
	return sw;
}

static void vale_switch_delete(struct vale_switch *sw)
{
	vale_switches[sw->idx] = NULL;
	vale_nswitches--;
	kvfree_rcu(sw, rcu);
}

/**
 * vale_member_add() - put @m in the switch @swname as "valeS:P"
 * @swname: "valeS"; the switch is created if needed
 * @m: a member in no switch, with its destinations set up
 * @portname: P
 *
 * netmap_lock held.
 *
 * Return: 0 or -ENOMEM (too many switches, the switch is full, or no
 * memory).
 */
int vale_member_add(const char *swname, struct vale_member *m,
		    const char *portname)
{
	struct vale_switch *sw;
	int err;
	u32 i;

	lockdep_assert_held(&netmap_lock);
	err = vale_member_room(swname);
	if (err)
		return err;
	sw = vale_switch_find(swname);
	if (!sw) {
		sw = vale_switch_new(swname);
		if (IS_ERR(sw))
			return PTR_ERR(sw);
	}
	for (i = 0; i < VALE_PORTS_MAX && vale_member_at(sw, i); i++)
		;
	if (i == VALE_PORTS_MAX) {
		if (!sw->nmembers)
			vale_switch_delete(sw);
		return -ENOMEM;
	}
	m->idx = i;
	scnprintf(m->name, sizeof(m->name), "%s:%s", swname, portname);
	sw->nmembers++;
	if (i >= sw->hi)
		WRITE_ONCE(sw->hi, i + 1);
	rcu_assign_pointer(sw->members[i], m);
	rcu_assign_pointer(m->sw, sw);
	return 0;
}

/**
 * vale_member_remove() - take @m out of its switch
 * @m: a member of a switch, without traffic of its own
 *
 * Forgets what the switch learned about the port; the last member takes
 * the switch with it. Forwarders may still see @m until a grace period
 * passes. netmap_lock held.
 */
void vale_member_remove(struct vale_member *m)
{
	struct vale_switch *sw;
	u16 hi;

	sw = rcu_dereference_protected(m->sw, lockdep_is_held(&netmap_lock));
	if (!sw)
		return;
	RCU_INIT_POINTER(sw->members[m->idx], NULL);
	RCU_INIT_POINTER(m->sw, NULL);
	vale_fdb_forget(sw, m->idx);
	for (hi = sw->hi; hi && !vale_member_at(sw, hi - 1); hi--)
		;
	WRITE_ONCE(sw->hi, hi);
	if (!--sw->nmembers)
		vale_switch_delete(sw);
}

/* ---------------------------------------------------------------------- */
/* Destination rings                                                       */
/* ---------------------------------------------------------------------- */

void vale_dst_init(struct vale_dst *d, struct netmap_kring *kring)
{
	spin_lock_init(&d->lock);
	d->kring = kring;
}

/*
 * Open or close a ring to deliveries. Once it is closed, no delivery
 * touches the ring any more: they all check @live under the lock.
 */
void vale_dst_set_live(struct vale_dst *d, bool live, u32 fill)
{
	spin_lock_bh(&d->lock);
	d->live = live;
	d->fill = fill;
	d->tail = fill;
	spin_unlock_bh(&d->lock);
}

/* ---------------------------------------------------------------------- */
/* VALE ports                                                              */
/* ---------------------------------------------------------------------- */

/* Persistent ports, for the module's exit. netmap_lock. */
static LIST_HEAD(vale_persistent);

static void vale_batches_free(struct vale_port *vp)
{
	u32 i;

	for (i = 0; i < vp->up.nrings[NM_TX]; i++) {
		vale_batch_free(vp->batch[i]);
		vp->batch[i] = NULL;
	}
}

static int vale_port_activate(struct netmap_port *port)
{
	struct vale_port *vp = vale_port_of(port);
	int err;
	u32 i;

	err = netmap_port_rings_create(port);
	if (err)
		return err;
	for (i = 0; i < port->nrings[NM_TX]; i++) {
		vp->batch[i] = vale_batch_alloc();
		if (!vp->batch[i]) {
			vale_batches_free(vp);
			netmap_port_rings_delete(port);
			return -ENOMEM;
		}
	}
	for (i = 0; i < vp->m.ndst; i++)
		vale_dst_set_live(&vp->m.dst[i], true, 0);
	return 0;
}

static void vale_port_deactivate(struct netmap_port *port)
{
	struct vale_port *vp = vale_port_of(port);
	u32 i;

	for (i = 0; i < vp->m.ndst; i++)
		vale_dst_set_live(&vp->m.dst[i], false, 0);
	vale_batches_free(vp);
	netmap_port_rings_delete(port);
}

static int vale_port_hdr_set(struct netmap_port *port, u32 len)
{
	WRITE_ONCE(vale_port_of(port)->m.hdr_len, len);
	return 0;
}

static u32 vale_port_hdr_get(struct netmap_port *port)
{
	return READ_ONCE(vale_port_of(port)->m.hdr_len);
}

static void vale_port_free_rcu(struct rcu_head *rcu)
{
	struct vale_port *vp = container_of(rcu, struct vale_port, rcu);

	netmap_port_krings_free(&vp->up);
	kfree(vp->m.dst);
	kfree(vp->batch);
	kfree(vp);
}

static void vale_port_dtor(struct netmap_port *port)
{
	struct vale_port *vp = vale_port_of(port);

	vale_member_remove(&vp->m);
	netmap_port_unregister(port);
	if (vp->autodelete) {		/* its last user is gone */
		list_del_init(&vp->pnode);
		vale_netdev_delete(vp->netdev);
		vp->netdev = NULL;
	}
	netmap_mem_put(port->mem);
	netmap_port_fini(port);
	call_rcu(&vp->rcu, vale_port_free_rcu);
}

static const struct netmap_port_ops vale_port_ops = {
	.activate = vale_port_activate,
	.deactivate = vale_port_deactivate,
	.txsync = vale_txsync,
	.rxsync = vale_rxsync,
	.hdr_set = vale_port_hdr_set,
	.hdr_get = vale_port_hdr_get,
	.dtor = vale_port_dtor,
};

bool vale_is_port(const struct netmap_port *port)
{
	return port->ops == &vale_port_ops;
}

/**
 * vale_port_new() - a VALE port in no switch
 * @name: its name
 * @mem_id: the region for its rings: 0 for a new private one sized for the
 *	port (or the region of a REGISTER's EXTMEM option:
 *	netmap_mem_new_port()), else an existing region's id
 * @want: requested rings and slots, and extra buffers for a new region; a
 *	0 count asks for the default, other values are bounded: 1 to
 *	VALE_RINGS_MAX rings (1 by default), 1 to VALE_SLOTS_MAX slots
 *	(NM_DEFAULT_SLOTS by default), and no more than the ring objects of
 *	an existing region hold
 *
 * netmap_lock held.
 *
 * Return: the port (one reference) or an ERR_PTR(): -EINVAL when no
 * region has id @mem_id, -EPERM when netdevs use it and the caller may not
 * administer them (perm.c).
 */
struct vale_port *vale_port_new(const char *name, u16 mem_id,
				const struct netmap_mem_fit *want)
{
	struct netmap_mem_fit fit = { .extra_bufs = want->extra_bufs };
	struct netmap_port *port;
	struct netmap_mem *mem;
	struct vale_port *vp;
	enum nm_txrx t;
	int err;
	u32 i;

	for_each_dir(t) {
		fit.rings[t] = netmap_bound_value(want->rings[t], 1, 1,
						  VALE_RINGS_MAX);
		fit.slots[t] = netmap_bound_value(want->slots[t],
						  NM_DEFAULT_SLOTS, 1,
						  VALE_SLOTS_MAX);
	}
	if (mem_id) {
		mem = netmap_mem_find(mem_id);
		if (!mem)
			return ERR_PTR(-EINVAL);
		err = netmap_mem_admin(mem);
		if (err) {
			netmap_mem_put(mem);
			return ERR_PTR(err);
		}
	} else {
		mem = netmap_mem_new_port(&fit);
		if (IS_ERR(mem))
			return ERR_CAST(mem);
	}
	vp = kzalloc(sizeof(*vp), GFP_KERNEL);
	if (!vp) {
		netmap_mem_put(mem);
		return ERR_PTR(-ENOMEM);
	}
	INIT_LIST_HEAD(&vp->pnode);
	port = &vp->up;
	netmap_port_init(port, &vale_port_ops);
	strscpy(port->name, name, sizeof(port->name));
	port->mem = mem;
	for_each_dir(t) {
		port->nrings[t] = fit.rings[t];
		port->nslots[t] = min(fit.slots[t],
				      netmap_mem_max_slots(mem));
		/* Reported in netmap_if only, as netmap does; never bound. */
		port->nhost[t] = 1;
	}
	err = netmap_port_krings_alloc(port);
	vp->m.ndst = port->nrings[NM_RX];
	vp->m.dst = kcalloc(vp->m.ndst, sizeof(*vp->m.dst), GFP_KERNEL);
	vp->batch = kcalloc(port->nrings[NM_TX], sizeof(*vp->batch),
			    GFP_KERNEL);
	if (err || !vp->m.dst || !vp->batch) {
		netmap_port_put(port);
		return ERR_PTR(-ENOMEM);
	}
	for (i = 0; i < vp->m.ndst; i++)
		vale_dst_init(&vp->m.dst[i], &port->krings[NM_RX][i]);
	return vp;
}

/* What a REGISTER (@reg, or none) asks of a port it creates. */
static void vale_fit_of(const struct nmreq_register *reg,
			struct netmap_mem_fit *fit)
{
	*fit = (struct netmap_mem_fit) {};
	if (!reg)
		return;
	fit->rings[NM_TX] = reg->nr_tx_rings;
	fit->rings[NM_RX] = reg->nr_rx_rings;
	fit->slots[NM_TX] = reg->nr_tx_slots;
	fit->slots[NM_RX] = reg->nr_rx_slots;
	fit->extra_bufs = min_t(u32, reg->nr_extra_bufs, VALE_EXTRA_BUFS_MAX);
}

/**
 * netmap_vale_lookup() - resolve a VALE name to a VALE port, or create one
 * @name: a VALE name (netmap_is_vale_name())
 * @reg: the request (the geometry and region of a new port; the region an
 *	existing one must have), or NULL
 * @portp: the port, with a reference, on success
 *
 * For REGISTER and the lookups of PORT_INFO_GET and POOLS_INFO_GET, the
 * requests that create ephemeral ports. netmap_lock held.
 *
 * Return: 0; -ENOMEM for a bad switch name, too many switches or ports,
 * or no memory; -EINVAL for a bad port part, a netdev's name (see the top
 * of this file) or a bad nr_mem_id; -EBUSY for a member the switch binds
 * itself; -EPERM for a persistent member the caller may not administer
 * (perm.c).
 */
int netmap_vale_lookup(const char *name, const struct nmreq_register *reg,
		       struct netmap_port **portp)
{
	u16 mem_id = reg ? reg->nr_mem_id : 0;
	char swname[VALE_NAME_MAX + 1];
	struct vale_switch *sw;
	struct vale_member *m;
	struct netmap_mem_fit want;
	struct vale_port *vp;
	const char *pname;
	int err;

	lockdep_assert_held(&netmap_lock);
	if (!vale_name_split(name, swname, &pname))
		return -ENOMEM;
	if (!vale_port_part_ok(pname))
		return -EINVAL;
	sw = vale_switch_find(swname);
	m = sw ? vale_member_find(sw, name) : NULL;
	if (m) {
		if (m->nic)
			return -EBUSY;
		vp = container_of(m, struct vale_port, m);
		err = netmap_port_admin(&vp->up);	/* a persistent one */
		if (err)
			return err;
		if (mem_id && mem_id != vp->up.mem->id)
			return -EINVAL;
		netmap_port_get(&vp->up);
		*portp = &vp->up;
		return 0;
	}
	err = vale_member_room(swname);
	if (err)
		return err;
	if (vale_netdev_exists(pname))
		return -EINVAL;
	vale_fit_of(reg, &want);
	vp = vale_port_new(name, mem_id, &want);
	if (IS_ERR(vp))
		return PTR_ERR(vp);
	err = vale_member_add(swname, &vp->m, pname);
	if (err) {
		netmap_port_put(&vp->up);
		return err;
	}
	*portp = &vp->up;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Persistent ports                                                        */
/* ---------------------------------------------------------------------- */

/**
 * vale_persistent_find() - the persistent VALE port named @name
 * @name: the name
 *
 * netmap_lock held.
 *
 * Return: the port, with a reference, or NULL.
 */
struct vale_port *vale_persistent_find(const char *name)
{
	struct netmap_port *port = netmap_port_find(name);

	if (port && (!vale_is_port(port) || !vale_port_of(port)->persistent)) {
		netmap_port_put(port);
		port = NULL;
	}
	return port ? vale_port_of(port) : NULL;
}

/* What VALE_NEWIF reports of a port: the values in use. */
static void vale_newif_fill(const struct netmap_port *port,
			    struct nmreq_vale_newif *req)
{
	req->nr_tx_slots = port->nslots[NM_TX];
	req->nr_rx_slots = port->nslots[NM_RX];
	req->nr_tx_rings = port->nrings[NM_TX];
	req->nr_rx_rings = port->nrings[NM_RX];
	req->nr_mem_id = port->mem->id;
}

/**
 * netmap_vale_newif() - VALE_NEWIF: create a persistent VALE port
 * @name: its name, which its netdev also gets
 * @req: in: the geometry (0: defaults; see vale_port_new()); nr_mem_id 0
 *	gives the port a private region, another value puts its rings in
 *	that existing region. Out: the values in use, on success, and those
 *	of the port that has the name, on -EEXIST
 *
 * Return: 0, -EINVAL (a name that starts with "vale", is empty or too
 * long, or that no netdev can have; no region has id nr_mem_id), -EPERM
 * (no CAP_NET_ADMIN over the caller's network namespace, perm.c), -EEXIST
 * (a netdev or a port has the name) or -ENOMEM.
 */
int netmap_vale_newif(const char *name, struct nmreq_vale_newif *req)
{
	struct net_device *dev;
	struct netmap_port *port;
	struct vale_port *vp;
	int err;

	if (!strncmp(name, NM_BDG_NAME, strlen(NM_BDG_NAME)) ||
	    !*name || strnlen(name, IFNAMSIZ) >= IFNAMSIZ)
		return -EINVAL;
	mutex_lock(&netmap_lock);
	port = netmap_port_find(name);
	if (port) {
		vale_newif_fill(port, req);
		netmap_port_put(port);
		mutex_unlock(&netmap_lock);
		return -EEXIST;
	}
	mutex_unlock(&netmap_lock);
	if (vale_netdev_exists(name))
		return -EEXIST;
	/* '%' would have the netdev named by a pattern: another name. */
	if (strchr(name, '%'))
		return -EINVAL;
	err = netmap_net_admin(current->nsproxy->net_ns);
	if (err)
		return err;
	dev = vale_netdev_new(name);
	if (IS_ERR(dev))
		return PTR_ERR(dev);
	mutex_lock(&netmap_lock);
	port = netmap_port_find(name);
	if (port) {
		vale_newif_fill(port, req);
		netmap_port_put(port);
		err = -EEXIST;
		goto fail;
	}
	vp = vale_port_new(name, req->nr_mem_id, &(struct netmap_mem_fit) {
				.rings = { req->nr_tx_rings, req->nr_rx_rings },
				.slots = { req->nr_tx_slots, req->nr_rx_slots },
			   });
	if (IS_ERR(vp)) {
		err = PTR_ERR(vp);
		goto fail;
	}
	netmap_port_set_admin(&vp->up, dev_net(dev));
	err = vale_netdev_register(dev, vp);
	if (err) {
		netmap_port_put(&vp->up);
		goto fail;
	}
	vp->persistent = true;
	vp->netdev = dev;
	netmap_port_register_net(&vp->up, dev_net(dev));
	list_add_tail(&vp->pnode, &vale_persistent);
	vale_newif_fill(&vp->up, req);
	mutex_unlock(&netmap_lock);
	return 0;
fail:
	mutex_unlock(&netmap_lock);
	vale_netdev_delete(dev);
	return err;
}

/**
 * netmap_vale_autoif() - an auto-delete persistent VALE port, for a pipe
 * @name: its name (a valid interface name no port or netdev has)
 * @reg: the request of the pipe: the port's region and geometry
 * @portp: the port, with the only reference, on success
 *
 * The port is a persistent port in no switch, with its netdev, that goes
 * with its last reference instead of with VALE_DELIF (which refuses it).
 * netmap_lock held.
 *
 * Return: 0, -EINVAL (no region has id nr_mem_id), -EEXIST (a netdev has
 * the name) or -ENOMEM.
 */
int netmap_vale_autoif(const char *name, const struct nmreq_register *reg,
		       struct netmap_port **portp)
{
	struct net_device *dev;
	struct netmap_mem_fit want;
	struct vale_port *vp;
	int err;

	lockdep_assert_held(&netmap_lock);
	if (!netmap_port_name_ok(name) || netmap_is_vale_name(name))
		return -EINVAL;
	dev = vale_netdev_new(name);
	if (IS_ERR(dev))
		return PTR_ERR(dev);
	vale_fit_of(reg, &want);
	vp = vale_port_new(name, reg->nr_mem_id, &want);
	if (IS_ERR(vp)) {
		vale_netdev_delete(dev);
		return PTR_ERR(vp);
	}
	err = vale_netdev_register(dev, vp);
	if (err) {
		netmap_port_put(&vp->up);
		vale_netdev_delete(dev);
		return err;
	}
	vp->persistent = true;
	vp->autodelete = true;
	vp->netdev = dev;
	netmap_port_register_net(&vp->up, dev_net(dev));
	list_add_tail(&vp->pnode, &vale_persistent);
	*portp = &vp->up;
	return 0;
}

/*
 * Delete a persistent port that nothing uses: out of the registry, its
 * netdev unregistered, and the port's own reference dropped. netmap_lock
 * held.
 */
static void vale_persistent_delete(struct vale_port *vp)
{
	struct net_device *dev = vp->netdev;

	vale_member_remove(&vp->m);
	list_del_init(&vp->pnode);
	netmap_port_unregister(&vp->up);
	vp->persistent = false;
	vale_netdev_delete(dev);
	vp->netdev = NULL;
	netmap_port_put(&vp->up);
}

/**
 * netmap_vale_delif() - VALE_DELIF: delete a persistent VALE port
 * @name: its name
 *
 * Return: 0; -ENXIO when no port or netdev has the name; -EINVAL when it
 * is not a persistent VALE port; -EPERM when its netdev's namespace is not
 * the caller's to administer (perm.c); -EBUSY when it is in use: bound (by
 * a descriptor, or by a second switch), in a switch, or holding pipes.
 */
int netmap_vale_delif(const char *name)
{
	struct netmap_port *port;
	struct vale_port *vp;
	int err = 0;

	mutex_lock(&netmap_lock);
	port = netmap_port_find(name);
	if (!port) {
		mutex_unlock(&netmap_lock);
		return vale_netdev_exists(name) ? -EINVAL : -ENXIO;
	}
	vp = vale_port_of(port);
	if (!vale_is_port(port) || !vp->persistent || vp->autodelete)
		err = -EINVAL;
	else if (netmap_port_admin(port))
		err = -EPERM;
	else if (port->users || port->refs > 2 ||
		 rcu_access_pointer(vp->m.sw))
		err = -EBUSY;
	netmap_port_put(port);
	if (!err)
		vale_persistent_delete(vp);
	mutex_unlock(&netmap_lock);
	return err;
}

/**
 * netmap_vale_exit() - the module goes: delete what outlives descriptors
 *
 * Persistent ports and the NICs switches hold, then waits for the
 * deferred frees.
 */
void netmap_vale_exit(void)
{
	struct vale_port *vp, *tmp;
	struct vale_member *m;
	unsigned int i;
	u32 j;

	mutex_lock(&netmap_lock);
again:
	for (i = 0; i < VALE_SWITCHES_MAX; i++) {
		struct vale_switch *sw = vale_switches[i];

		for (j = 0; sw && j < VALE_PORTS_MAX; j++) {
			m = vale_member_at(sw, j);
			/* Drops netmap_lock: look again from the start. */
			if (m && m->nic && !vale_nic_detach(m))
				goto again;
		}
	}
	list_for_each_entry_safe(vp, tmp, &vale_persistent, pnode)
		if (!WARN_ON(vp->autodelete))	/* held by nothing now */
			vale_persistent_delete(vp);
	mutex_unlock(&netmap_lock);
	rcu_barrier();
}
