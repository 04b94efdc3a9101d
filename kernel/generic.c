// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * NIC ports on any netdev through the emulated adapter: lookup, the
 * port's lifetime, netmap mode on and off, and the device going away.
 * (generic.h has the overview; the data path is in generic_rx.c and
 * generic_tx.c.)
 *
 * Lookup: a plain name that no registered port has names a netdev of the
 * caller's network namespace (dev_get_by_name()), for a caller with
 * CAP_NET_ADMIN over that namespace (perm.c). A device has at most one
 * port, found through the list of generic ports by the device pointer, so
 * two namespaces may each have their "eth0". The port uses the global
 * memory region.
 *
 * Host rings: a port without bindings has one per direction, unless the
 * request that looks it up (REGISTER, PORT_INFO_GET) asks for more, in
 * nr_host_tx_rings and nr_host_rx_rings (each on its own, 0 meaning 1);
 * a port with bindings keeps its counts, and the last binding to go puts
 * them back to 1/1. The kring arrays grow when a request needs more room
 * and never shrink while the port lives.
 *
 * Lifetime, under netmap_lock unless said otherwise:
 *   - the port lives while it has references (lookups, bindings) and holds
 *     a reference to the device until the device unregisters;
 *   - the first binding creates the rings and puts the device in netmap
 *     mode (hook, under rtnl_lock); the last one undoes both;
 *   - NETDEV_UNREGISTER (the notifier runs under rtnl_lock and never takes
 *     netmap_lock) unhooks the device, marks the port dead, waits for the
 *     syncs inside the device by taking every ring's lock once, and drops
 *     the device. The port stays, dead (syncs fail with -ENXIO, poll
 *     reports an error), until its users close it;
 *   - the storage outlives the port while skbs it built are in flight
 *     (gp->kref), since their destructor counts completions in it.
 *
 * The list of generic ports is protected by rtnl_lock. Creation happens
 * under netmap_lock, so two lookups never race to create the same port;
 * a port enters the list only while its device is registered (checked
 * under rtnl_lock), so the notifier sees every port of a dying device.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/moduleparam.h>
#include <linux/netdevice.h>
#include <linux/rcupdate.h>
#include <linux/rtnetlink.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <net/net_namespace.h>

#include "generic.h"

static unsigned int nm_gen_ringsize = NM_DEFAULT_SLOTS;
module_param_named(generic_ringsize, nm_gen_ringsize, uint, 0644);
MODULE_PARM_DESC(generic_ringsize,
		 "slots per ring of NIC ports (emulated adapter), for ports created later");

static unsigned int nm_gen_mit_us = 50;
module_param_named(generic_mit_us, nm_gen_mit_us, uint, 0644);
MODULE_PARM_DESC(generic_mit_us,
		 "NIC ports: rx wakeups coalesced within this many us (0: none)");

/* Generic ports, by device. rtnl_lock. */
static LIST_HEAD(nm_gen_ports);

/* The mitigation period new activations use, in nanoseconds. */
u32 nm_gen_mit_ns(void)
{
	return min_t(u32, READ_ONCE(nm_gen_mit_us), USEC_PER_SEC) *
	       NSEC_PER_USEC;
}

/* ---------------------------------------------------------------------- */
/* netmap mode on and off                                                  */
/* ---------------------------------------------------------------------- */

/*
 * Take the device's traffic: the rx_handler first, so that the xmit hook
 * (which finds the port through rx_handler_data) never runs without it.
 * rtnl_lock held.
 */
static int nm_gen_hook(struct nm_gen_port *gp)
{
	struct net_device *dev = gp->dev;
	int err;

	ASSERT_RTNL();
	err = netdev_rx_handler_register(dev, nm_gen_rx_handler, gp);
	if (err) {
		pr_info_ratelimited("%s: rx handler busy (bridge, bond, macvlan?): %d\n",
				    dev->name, err);
		return err;
	}
	gp->orig_ops = dev->netdev_ops;
	gp->ops = *gp->orig_ops;
	gp->ops.ndo_start_xmit = nm_gen_xmit_hook;
	WRITE_ONCE(dev->netdev_ops, &gp->ops);
	gp->hooked = true;
	return 0;
}

/*
 * Give the device back to the stack: the device's own ops first, then,
 * once no xmit hook can still be running, the rx_handler (whose
 * unregistration waits for the running handlers). rtnl_lock held.
 */
static void nm_gen_unhook(struct nm_gen_port *gp)
{
	struct net_device *dev = gp->dev;

	ASSERT_RTNL();
	if (!gp->hooked)
		return;
	WRITE_ONCE(dev->netdev_ops, gp->orig_ops);
	synchronize_net();
	netdev_rx_handler_unregister(dev);
	gp->hooked = false;
}

static int nm_gen_activate(struct netmap_port *port)
{
	struct nm_gen_port *gp = nm_gen_port(port);
	int err;

	err = netmap_port_rings_create(port);
	if (err)
		return err;
	nm_gen_rxq_init(gp);
	rtnl_lock();
	err = gp->dead ? -ENXIO : nm_gen_hook(gp);
	rtnl_unlock();
	if (err) {
		nm_gen_rxq_stop(gp);
		netmap_port_rings_delete(port);
	}
	return err;
}

static void nm_gen_deactivate(struct netmap_port *port)
{
	struct nm_gen_port *gp = nm_gen_port(port);

	rtnl_lock();
	if (gp->dev)
		nm_gen_unhook(gp);
	rtnl_unlock();
	nm_gen_rxq_stop(gp);
	netmap_port_rings_delete(port);
	port->nhost[NM_TX] = 1;
	port->nhost[NM_RX] = 1;
}

/* ---------------------------------------------------------------------- */
/* Ring arrays                                                             */
/* ---------------------------------------------------------------------- */

/* Free the retired tx sources once no skb of the port is in flight. */
static void nm_gen_retired_free(struct nm_gen_port *gp)
{
	struct nm_gen_txrs *txrs, *tmp;

	/* Every destructor drops its reference after its last use of txr. */
	if (kref_read(&gp->kref) != 1)
		return;
	smp_acquire__after_ctrl_dep();
	list_for_each_entry_safe(txrs, tmp, &gp->retired, node) {
		list_del(&txrs->node);
		kfree(txrs);
	}
}

static struct netmap_kring *nm_gen_krings_new(struct netmap_port *port,
					      enum nm_txrx t, u32 n)
{
	struct netmap_kring *krings;
	u32 i;

	krings = kcalloc(n, sizeof(*krings), GFP_KERNEL);
	if (!krings)
		return NULL;
	for (i = 0; i < n; i++) {
		netmap_kring_init(&krings[i], port, t, i, port->nslots[t]);
		krings[i].host = i >= port->nrings[t];
	}
	return krings;
}

static struct nm_gen_txrs *nm_gen_txrs_new(struct nm_gen_port *gp,
					   struct netmap_kring *krings, u32 n)
{
	struct nm_gen_txrs *txrs;
	u32 i;

	txrs = kzalloc(struct_size(txrs, r, n), GFP_KERNEL);
	if (!txrs)
		return NULL;
	INIT_LIST_HEAD(&txrs->node);
	for (i = 0; i < n; i++) {
		txrs->r[i].gp = gp;
		RCU_INIT_POINTER(txrs->r[i].kring, &krings[i]);
		txrs->r[i].to_stack = krings[i].host;
	}
	return txrs;
}

static struct nm_gen_rxq *nm_gen_rxqs_new(struct netmap_kring *krings, u32 n)
{
	struct nm_gen_rxq *rxq;
	u32 i;

	rxq = kcalloc(n, sizeof(*rxq), GFP_KERNEL);
	if (!rxq)
		return NULL;
	for (i = 0; i < n; i++) {
		skb_queue_head_init(&rxq[i].q);
		rxq[i].kring = &krings[i];
	}
	return rxq;
}

/*
 * Room for @cap krings per direction: new krings, tx sources and rx
 * queues replace the old ones, which are freed, or retired for the tx
 * sources that skbs in flight may still count in. The port has no binding
 * (no ring memory, no hook, no timer); netmap_lock held. The device
 * notifier walks the arrays under rtnl_lock, so they change under it.
 */
static int nm_gen_rings_alloc(struct nm_gen_port *gp, const u32 cap[NM_NDIR])
{
	struct netmap_port *port = &gp->up;
	struct netmap_kring *krings[NM_NDIR];
	struct nm_gen_txrs *txrs = NULL;
	struct nm_gen_rxq *rxq = NULL;
	u32 old_ntx = gp->cap[NM_TX], i;
	enum nm_txrx t;

	lockdep_assert_held(&netmap_lock);
	for_each_dir(t)
		krings[t] = nm_gen_krings_new(port, t, cap[t]);
	if (krings[NM_TX] && krings[NM_RX]) {
		txrs = nm_gen_txrs_new(gp, krings[NM_TX], cap[NM_TX]);
		rxq = nm_gen_rxqs_new(krings[NM_RX], cap[NM_RX]);
	}
	if (!txrs || !rxq) {
		kfree(rxq);
		kfree(txrs);
		for_each_dir(t)
			kfree(krings[t]);
		return -ENOMEM;
	}
	rtnl_lock();
	for_each_dir(t) {
		swap(port->krings[t], krings[t]);
		gp->cap[t] = cap[t];
	}
	swap(gp->txrs, txrs);
	swap(gp->rxq, rxq);
	rtnl_unlock();
	if (txrs) {
		/* Destructors of skbs in flight stop waking the old krings. */
		for (i = 0; i < old_ntx; i++)
			RCU_INIT_POINTER(txrs->r[i].kring, NULL);
		synchronize_rcu();
		list_add_tail(&txrs->node, &gp->retired);
		nm_gen_retired_free(gp);
	}
	kfree(rxq);
	for_each_dir(t)
		kfree(krings[t]);
	return 0;
}

/*
 * The host ring counts a lookup asks of a port without bindings: the
 * nonzero ones, else 1. A port with bindings keeps its counts. Counts that
 * no netmap_if of the region could list are refused.
 */
static int nm_gen_host_rings(struct nm_gen_port *gp,
			     const struct nmreq_register *reg)
{
	struct netmap_port *port = &gp->up;
	u32 want[NM_NDIR], cap[NM_NDIR];
	enum nm_txrx t;
	int err;

	lockdep_assert_held(&netmap_lock);
	if (!reg || port->users)
		return 0;
	want[NM_TX] = reg->nr_host_tx_rings ?: 1;
	want[NM_RX] = reg->nr_host_rx_rings ?: 1;
	if (port->nrings[NM_TX] + want[NM_TX] + port->nrings[NM_RX] +
	    want[NM_RX] > netmap_mem_max_if_rings(port->mem))
		return -ENOMEM;
	for_each_dir(t)
		cap[t] = max(gp->cap[t], port->nrings[t] + want[t]);
	if (cap[NM_TX] != gp->cap[NM_TX] || cap[NM_RX] != gp->cap[NM_RX]) {
		err = nm_gen_rings_alloc(gp, cap);
		if (err)
			return err;
	}
	for_each_dir(t)
		port->nhost[t] = want[t];
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Ports                                                                   */
/* ---------------------------------------------------------------------- */

/* The last skb or the port's own reference is gone: free the storage. */
void nm_gen_port_release(struct kref *kref)
{
	struct nm_gen_port *gp = container_of(kref, struct nm_gen_port, kref);
	struct nm_gen_txrs *txrs, *tmp;

	list_for_each_entry_safe(txrs, tmp, &gp->retired, node)
		kfree(txrs);
	kfree(gp->rxq);
	kfree(gp->txrs);
	kfree(gp);
}

/* Every kring of the port, both directions, host rings included. */
#define for_each_gen_kring(port, t, i)					\
	for_each_dir(t)							\
		for ((i) = 0; (i) < netmap_port_nkrings(port, t); (i)++)

static void nm_gen_dtor(struct netmap_port *port)
{
	struct nm_gen_port *gp = nm_gen_port(port);
	struct net_device *dev;
	u32 i;

	rtnl_lock();
	list_del_init(&gp->node);
	dev = gp->dev;
	gp->dev = NULL;
	rtnl_unlock();
	if (dev)
		dev_put(dev);
	/* Destructors of skbs still in flight stop waking the rings. */
	for (i = 0; i < gp->cap[NM_TX]; i++)
		RCU_INIT_POINTER(gp->txrs->r[i].kring, NULL);
	synchronize_rcu();
	netmap_port_krings_free(port);
	netmap_mem_put(port->mem);
	netmap_port_fini(port);
	kref_put(&gp->kref, nm_gen_port_release);
}

static const struct netmap_port_ops nm_gen_ops = {
	.activate = nm_gen_activate,
	.deactivate = nm_gen_deactivate,
	.txsync = nm_gen_txsync,
	.rxsync = nm_gen_rxsync,
	.dtor = nm_gen_dtor,
};

/* Rings for the queues the device really uses, at least one. */
static u32 nm_gen_nqueues(unsigned int n)
{
	return clamp_t(u32, n, 1, NM_MAX_RINGS);
}

/* A new port for @dev, whose reference it takes over. Not yet listed. */
static struct nm_gen_port *nm_gen_new(struct net_device *dev)
{
	struct nm_gen_port *gp;
	struct netmap_port *port;
	struct netmap_mem *mem;
	u32 cap[NM_NDIR], i;
	enum nm_txrx t;

	mem = netmap_mem_get_global();
	if (IS_ERR(mem))
		return ERR_CAST(mem);
	gp = kzalloc(sizeof(*gp), GFP_KERNEL);
	if (!gp) {
		netmap_mem_put(mem);
		return ERR_PTR(-ENOMEM);
	}
	kref_init(&gp->kref);
	INIT_LIST_HEAD(&gp->node);
	INIT_LIST_HEAD(&gp->retired);
	port = &gp->up;
	netmap_port_init(port, &nm_gen_ops);
	strscpy(port->name, dev->name, sizeof(port->name));
	port->mem = mem;
	netmap_port_set_admin(port, dev_net(dev));
	port->nrings[NM_TX] = nm_gen_nqueues(dev->real_num_tx_queues);
	port->nrings[NM_RX] = nm_gen_nqueues(dev->real_num_rx_queues);
	for_each_dir(t) {
		port->nhost[t] = 1;
		port->nslots[t] = netmap_bound_value(READ_ONCE(nm_gen_ringsize),
						     NM_DEFAULT_SLOTS,
						     NM_MIN_SLOTS,
						     netmap_mem_max_slots(mem));
		cap[t] = port->nrings[t] + port->nhost[t];
	}
	port->host_rings = true;
	port->host_reported = true;
	for (i = 0; i < NM_GEN_NFWD; i++)
		gp->fwd[i].gp = gp;
	gp->fwd[NM_GEN_FWD_STACK].to_stack = true;
	if (nm_gen_rings_alloc(gp, cap)) {
		netmap_port_fini(port);
		netmap_mem_put(mem);
		kref_put(&gp->kref, nm_gen_port_release);
		return ERR_PTR(-ENOMEM);
	}
	gp->dev = dev;
	return gp;
}

/*
 * An idle port (no binding, no pipe) takes the region of a REGISTER's
 * EXTMEM option (extmem.c), and keeps it until it goes or switches again.
 * netmap_lock held.
 */
static void nm_gen_take_extmem(struct nm_gen_port *gp)
{
	struct netmap_mem *mem = netmap_extmem_pending;
	struct netmap_port *port = &gp->up;
	enum nm_txrx t;
	u32 i;

	if (!mem || mem == port->mem || port->users ||
	    !list_empty(&port->pipes))
		return;
	netmap_mem_get(mem);
	netmap_mem_put(port->mem);
	port->mem = mem;
	for_each_dir(t) {
		port->nslots[t] = netmap_bound_value(READ_ONCE(nm_gen_ringsize),
						     NM_DEFAULT_SLOTS,
						     NM_MIN_SLOTS,
						     netmap_mem_max_slots(mem));
		for (i = 0; i < netmap_port_nkrings(port, t); i++)
			port->krings[t][i].num_slots = port->nslots[t];
	}
}

/* The port of @dev, with a new reference, or NULL. rtnl_lock held. */
static struct nm_gen_port *nm_gen_find(struct net_device *dev)
{
	struct nm_gen_port *gp;

	ASSERT_RTNL();
	list_for_each_entry(gp, &nm_gen_ports, node) {
		if (gp->dev == dev) {
			netmap_port_get(&gp->up);
			return gp;
		}
	}
	return NULL;
}

/**
 * netmap_generic_lookup() - the NIC port of a netdev
 * @name: a valid interface name
 * @reg: the request, or NULL; a nr_mem_id other than the port's region is
 *	refused. An idle port first takes the region of the REGISTER's EXTMEM
 *	option, if any.
 * @portp: the port, with a reference, on success
 *
 * Creates the port when the device has none. netmap_lock held.
 *
 * Return: 0, -ENXIO when the caller's namespace has no such device,
 * -EPERM without CAP_NET_ADMIN over it (perm.c), -EINVAL or -ENOMEM.
 */
int netmap_generic_lookup(const char *name, const struct nmreq_register *reg,
			  struct netmap_port **portp)
{
	struct net_device *dev;
	struct nm_gen_port *gp;
	int err = 0;

	lockdep_assert_held(&netmap_lock);
	dev = dev_get_by_name(current->nsproxy->net_ns, name);
	if (!dev)
		return -ENXIO;
	err = netmap_net_admin(dev_net(dev));
	if (err) {
		dev_put(dev);
		return err;
	}
	rtnl_lock();
	gp = nm_gen_find(dev);
	rtnl_unlock();
	if (gp) {
		dev_put(dev);
	} else {
		gp = nm_gen_new(dev);
		if (IS_ERR(gp)) {
			dev_put(dev);
			return PTR_ERR(gp);
		}
		rtnl_lock();
		if (dev->reg_state == NETREG_REGISTERED)
			list_add_tail(&gp->node, &nm_gen_ports);
		else
			err = -ENXIO;
		rtnl_unlock();
		if (err) {
			netmap_port_put(&gp->up);
			return err;
		}
	}
	nm_gen_take_extmem(gp);
	if (reg && reg->nr_mem_id && reg->nr_mem_id != gp->up.mem->id)
		err = -EINVAL;
	else
		err = nm_gen_host_rings(gp, reg);
	if (err) {
		netmap_port_put(&gp->up);
		return err;
	}
	*portp = &gp->up;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* The device goes away                                                    */
/* ---------------------------------------------------------------------- */

/*
 * The device unregisters while the port exists: leave the device for good.
 * rtnl_lock held; netmap_lock is not (and must not be) taken.
 */
static void nm_gen_kill(struct nm_gen_port *gp)
{
	struct netmap_port *port = &gp->up;
	struct net_device *dev = gp->dev;
	enum nm_txrx t;
	u32 i;

	nm_gen_unhook(gp);
	list_del_init(&gp->node);
	WRITE_ONCE(gp->dead, true);
	/* Once each ring's lock was free, no sync uses the device. */
	for_each_gen_kring(port, t, i) {
		struct netmap_kring *kring = &port->krings[t][i];

		spin_lock(&kring->lock);
		spin_unlock(&kring->lock);
		netmap_kring_wake(kring);
	}
	for (i = 0; i < netmap_port_nkrings(port, NM_RX); i++)
		skb_queue_purge(&gp->rxq[i].q);
	gp->dev = NULL;
	dev_put(dev);
	pr_info("%s: device unregistered while in netmap mode\n", port->name);
}

static int nm_gen_netdev_event(struct notifier_block *nb,
			       unsigned long event, void *ptr)
{
	struct net_device *dev = netdev_notifier_info_to_dev(ptr);
	struct nm_gen_port *gp;

	if (event != NETDEV_UNREGISTER)
		return NOTIFY_DONE;
	ASSERT_RTNL();
	list_for_each_entry(gp, &nm_gen_ports, node) {
		if (gp->dev == dev) {
			nm_gen_kill(gp);
			break;
		}
	}
	return NOTIFY_DONE;
}

static struct notifier_block nm_gen_notifier = {
	.notifier_call = nm_gen_netdev_event,
};

int netmap_generic_init(void)
{
	return register_netdevice_notifier(&nm_gen_notifier);
}

void netmap_generic_exit(void)
{
	unregister_netdevice_notifier(&nm_gen_notifier);
	WARN_ON(!list_empty(&nm_gen_ports));
	nm_gen_skbs_wait();
}
