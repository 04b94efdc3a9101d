// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Ports: reference counting, the registry of named ports and name
 * resolution.
 *
 * A name resolves, in this order, to: a null port (when the request's mode
 * is NR_REG_NULL), a monitor (monitor.c), a pipe end ("X{ID" or "X}ID",
 * pipe.c), a VALE port ("valeS:P", vale.c), or a port in the registry. A
 * plain name that is not registered names a netdev of the caller's network
 * namespace, bound through the emulated adapter (generic.c); an unknown
 * one is -ENXIO.
 *
 * The registry holds the ports that stand for a netdev of their own
 * (persistent VALE ports, ptnet guest ports). A port registered with its
 * network namespace is found only from that namespace, as its netdev is:
 * another namespace's netdev of the same name is another port. Pipes are
 * never registered: they belong to their parent, whatever its name.
 *
 * Locking: netmap_lock is the global mutex of the netmap core. It
 * protects the registry, every port's refs and users, the bindings of
 * every ring (kring->users, kring->exclusive), the pipes of every parent,
 * and the creation and deletion of ring memory. It nests inside
 * priv->lock and outside mem->lock, netmap_mem_table and kring->lock. No
 * user memory is touched while it is held.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/if.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/nsproxy.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/user_namespace.h>
#include <net/net_namespace.h>

#include "netmap_kern.h"

DEFINE_MUTEX(netmap_lock);

/* Named ports that lookups can find. netmap_lock. */
static LIST_HEAD(netmap_ports);

/**
 * netmap_port_init() - initialise a new port with one reference
 * @port: zeroed storage
 * @ops: its kind
 */
void netmap_port_init(struct netmap_port *port,
		      const struct netmap_port_ops *ops)
{
	port->ops = ops;
	port->refs = 1;
	INIT_LIST_HEAD(&port->node);
	INIT_LIST_HEAD(&port->pipes);
	atomic_inc(&netmap_port_count);
}
EXPORT_SYMBOL_GPL(netmap_port_init);

/* The port's storage is about to be freed: stop counting it. */
void netmap_port_fini(struct netmap_port *port)
{
	put_user_ns(port->admin_ns);
	port->admin_ns = NULL;
	atomic_dec(&netmap_port_count);
}
EXPORT_SYMBOL_GPL(netmap_port_fini);

/**
 * netmap_port_krings_alloc() - allocate the kernel rings of a port
 * @port: a port whose nrings[] and nslots[] are set
 *
 * Return: 0 or -ENOMEM.
 */
int netmap_port_krings_alloc(struct netmap_port *port)
{
	enum nm_txrx t;
	u32 i;

	for_each_dir(t) {
		u32 n = netmap_port_nkrings(port, t);

		port->krings[t] = kcalloc(n, sizeof(*port->krings[t]),
					  GFP_KERNEL);
		if (!port->krings[t] && n) {
			netmap_port_krings_free(port);
			return -ENOMEM;
		}
		for (i = 0; i < n; i++) {
			netmap_kring_init(&port->krings[t][i], port, t, i,
					  port->nslots[t]);
			port->krings[t][i].host = i >= port->nrings[t];
		}
	}
	return 0;
}
EXPORT_SYMBOL_GPL(netmap_port_krings_alloc);

void netmap_port_krings_free(struct netmap_port *port)
{
	enum nm_txrx t;

	for_each_dir(t) {
		kfree(port->krings[t]);
		port->krings[t] = NULL;
	}
}
EXPORT_SYMBOL_GPL(netmap_port_krings_free);

/**
 * netmap_port_get() - take another core reference
 * @port: a port the caller holds a core reference to
 *
 * A core reference also holds the module that implements the port
 * (ops->owner), so that its ops stay in memory while the core may call
 * them. netmap_lock held.
 */
void netmap_port_get(struct netmap_port *port)
{
	lockdep_assert_held(&netmap_lock);
	__module_get(port->ops->owner);
	port->refs++;
}
EXPORT_SYMBOL_GPL(netmap_port_get);

/* Drop a reference; the last one calls the dtor. netmap_lock held. */
static void netmap_port_unref(struct netmap_port *port)
{
	lockdep_assert_held(&netmap_lock);
	if (--port->refs)
		return;
	port->ops->dtor(port);
}

/**
 * netmap_port_put() - drop a core reference
 * @port: the port
 *
 * The last reference calls the dtor; the owner module is released only
 * after the dtor has returned. netmap_lock held.
 */
void netmap_port_put(struct netmap_port *port)
{
	struct module *owner = port->ops->owner;

	netmap_port_unref(port);
	module_put(owner);
}
EXPORT_SYMBOL_GPL(netmap_port_put);

/* Make @port findable by name, from every namespace. netmap_lock held. */
void netmap_port_register(struct netmap_port *port)
{
	lockdep_assert_held(&netmap_lock);
	list_add_tail(&port->node, &netmap_ports);
}

/*
 * Make @port findable by name from the network namespace @net only (a
 * port standing for a netdev of @net). Its cookie is never reused, so a
 * namespace that goes away leaves the port unreachable, not misfound.
 * netmap_lock held.
 */
void netmap_port_register_net(struct netmap_port *port, const struct net *net)
{
	port->net_cookie = net->net_cookie;
	netmap_port_register(port);
}

void netmap_port_unregister(struct netmap_port *port)
{
	lockdep_assert_held(&netmap_lock);
	list_del_init(&port->node);
}

/**
 * netmap_port_publish() - make a driver's port findable by name
 * @port: initialised by netmap_port_init(), with its name set
 *
 * For ports that another module implements (ops->owner): lookups find it
 * from now on, and every reference they take holds that module.
 */
void netmap_port_publish(struct netmap_port *port)
{
	mutex_lock(&netmap_lock);
	netmap_port_register(port);
	mutex_unlock(&netmap_lock);
}
EXPORT_SYMBOL_GPL(netmap_port_publish);

/**
 * netmap_port_retire() - a driver's port loses its device
 * @port: a port of netmap_port_publish(), or one never published
 * @detach: called once the port has left the registry, with no activate
 *	or deactivate running (the core serialises them), to cut the port
 *	from its device so that the syncs of the bindings left fail; or NULL
 *
 * Drops the reference netmap_port_init() gave the driver. Bindings that
 * remain keep the port, and the driver's module, until they go.
 */
void netmap_port_retire(struct netmap_port *port,
			void (*detach)(struct netmap_port *port))
{
	mutex_lock(&netmap_lock);
	netmap_port_unregister(port);
	if (detach)
		detach(port);
	netmap_port_unref(port);
	mutex_unlock(&netmap_lock);
}
EXPORT_SYMBOL_GPL(netmap_port_retire);

/**
 * netmap_port_find() - a registered port by name
 * @name: the name
 *
 * Only the ports of the caller's network namespace, and those of none,
 * are found.
 *
 * Return: the port with a new core reference, or NULL (also when the
 * module that implements it is being unloaded).
 */
struct netmap_port *netmap_port_find(const char *name)
{
	u64 cookie = current->nsproxy->net_ns->net_cookie;
	struct netmap_port *port;

	lockdep_assert_held(&netmap_lock);
	list_for_each_entry(port, &netmap_ports, node) {
		if (port->net_cookie && port->net_cookie != cookie)
			continue;
		if (strcmp(port->name, name))
			continue;
		if (!try_module_get(port->ops->owner))
			return NULL;
		port->refs++;
		return port;
	}
	return NULL;
}

/**
 * netmap_port_name_ok() - whether @name is a valid plain port name
 * @name: a NUL-terminated string
 *
 * The rules of network interface names: 1 to IFNAMSIZ - 1 bytes, not "."
 * or "..", no '/', ':' or white space; and no pipe braces. Control bytes
 * are refused too.
 *
 * Return: true when valid.
 */
bool netmap_port_name_ok(const char *name)
{
	size_t len = strnlen(name, IFNAMSIZ);
	const char *c;

	if (len == 0 || len >= IFNAMSIZ)
		return false;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (c = name; *c; c++) {
		if (*c <= ' ' || *c >= 0x7f || strchr("/:{}", *c))
			return false;
	}
	return true;
}

/* A VALE name ("valeS:P"): any name that starts with "val" (vale.c). */
bool netmap_is_vale_name(const char *name)
{
	return !strncmp(name, NM_BDG_NAME, strlen(NM_BDG_NAME) - 1);
}

/**
 * netmap_bound_value() - clamp a requested count
 * @v: the request; 0 asks for the default
 * @dflt: the default
 * @lo: the smallest value allowed
 * @hi: the largest value allowed
 *
 * Return: @dflt for 0, else @v clamped to [@lo, @hi].
 */
u32 netmap_bound_value(u32 v, u32 dflt, u32 lo, u32 hi)
{
	if (!v)
		v = dflt;
	return clamp(v, lo, hi);
}

/**
 * netmap_port_lookup() - resolve a name to a port
 * @name: NUL-terminated, at most NETMAP_REQ_IFNAMSIZ - 1 bytes
 * @reg: the register request (mode, flags, wanted geometry), or NULL
 * @portp: the port, with a reference, on success
 *
 * May create the port (and a pipe parent) when the name asks for it.
 * netmap_lock held.
 *
 * Return: 0, -EINVAL for a bad name, -ENXIO for an unknown one,
 * -EPERM for a port that stands for a netdev the caller may not
 * administer (perm.c), -EOPNOTSUPP for kinds of ports this module does
 * not have yet, or -ENOMEM.
 */
int netmap_port_lookup(const char *name, const struct nmreq_register *reg,
		       struct netmap_port **portp)
{
	struct netmap_port *port;
	int err;

	lockdep_assert_held(&netmap_lock);
	if (reg && reg->nr_mode == NR_REG_NULL)
		return netmap_null_get(name, reg, portp);
	if (reg && (reg->nr_flags &
		    (NR_MONITOR_TX | NR_MONITOR_RX | NR_ZCOPY_MON)))
		return netmap_monitor_lookup(name, reg, portp);
	if (strpbrk(name, "{}"))
		return netmap_pipe_lookup(name, reg, portp);
	if (netmap_is_vale_name(name))
		return netmap_vale_lookup(name, reg, portp);
	if (!netmap_port_name_ok(name))
		return -EINVAL;
	port = netmap_port_find(name);
	if (!port)
		return netmap_generic_lookup(name, reg, portp);
	err = netmap_port_admin(port);	/* a persistent or ptnet port */
	if (err) {
		netmap_port_put(port);
		return err;
	}
	*portp = port;
	return 0;
}

void netmap_port_exit(void)
{
	WARN_ON(!list_empty(&netmap_ports));
}
