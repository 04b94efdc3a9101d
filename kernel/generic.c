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
}

/* ---------------------------------------------------------------------- */
/* Ports                                                                   */
/* ---------------------------------------------------------------------- */

/* The last skb or the port's own reference is gone: free the storage. */
void nm_gen_port_release(struct kref *kref)
{
	struct nm_gen_port *gp = container_of(kref, struct nm_gen_port, kref);

	kfree(gp->rxq);
	kfree(gp->txr);
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
	u32 i, ntx = netmap_port_nkrings(port, NM_TX);

	rtnl_lock();
	list_del_init(&gp->node);
	dev = gp->dev;
	gp->dev = NULL;
	rtnl_unlock();
	if (dev)
		dev_put(dev);
	/* Destructors of skbs still in flight stop waking the rings. */
	for (i = 0; i < ntx; i++)
		RCU_INIT_POINTER(gp->txr[i].kring, NULL);
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
	u32 ntx, nrx, i;
	enum nm_txrx t;
	int err;

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
	}
	port->host_rings = true;
	ntx = netmap_port_nkrings(port, NM_TX);
	nrx = netmap_port_nkrings(port, NM_RX);

	err = netmap_port_krings_alloc(port);
	gp->txr = kcalloc(ntx + NM_GEN_NFWD, sizeof(*gp->txr), GFP_KERNEL);
	gp->rxq = kcalloc(nrx, sizeof(*gp->rxq), GFP_KERNEL);
	if (err || !gp->txr || !gp->rxq) {
		netmap_port_krings_free(port);
		netmap_port_fini(port);
		netmap_mem_put(mem);
		kref_put(&gp->kref, nm_gen_port_release);
		return ERR_PTR(-ENOMEM);
	}
	for (i = 0; i < ntx + NM_GEN_NFWD; i++)
		gp->txr[i].gp = gp;
	for (i = 0; i < ntx; i++) {
		RCU_INIT_POINTER(gp->txr[i].kring, &port->krings[NM_TX][i]);
		gp->txr[i].to_stack = port->krings[NM_TX][i].host;
	}
	gp->txr[ntx + NM_GEN_FWD_STACK].to_stack = true;
	for (i = 0; i < nrx; i++) {
		skb_queue_head_init(&gp->rxq[i].q);
		gp->rxq[i].kring = &port->krings[NM_RX][i];
	}
	gp->dev = dev;
	return gp;
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
 * @reg: the request, or NULL; a nr_mem_id other than the global region's
 *	is refused
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
	if (reg && reg->nr_mem_id && reg->nr_mem_id != gp->up.mem->id) {
		netmap_port_put(&gp->up);
		return -EINVAL;
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
