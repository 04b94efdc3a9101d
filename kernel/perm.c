// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Who may use netmap.
 *
 * Two gates:
 *   - the device node: /dev/netmap is root's, mode 0600, unless the module
 *     is loaded with dev_gid and dev_mode (read at load time only, since
 *     devtmpfs creates the node once, when the device registers; udev
 *     rules may change it later). Without access, open() fails with
 *     EACCES, decided by the VFS.
 *   - CAP_NET_ADMIN, in the user namespace that owns the network namespace
 *     of the netdev concerned, for every request that reaches a netdev:
 *     binding a NIC or its host rings, monitoring it, querying it (which
 *     creates its adapter), attaching it to a VALE switch or detaching or
 *     polling it there; and creating, deleting, binding, attaching or
 *     detaching a persistent VALE port (it is a netdev too). Refused with
 *     EPERM, once the netdev is known: a bad name is still EINVAL and a
 *     missing device ENXIO.
 * Pipes, ephemeral VALE ports and the null port need only the device.
 *
 * A port that stands for a netdev records the user namespace owning the
 * netdev's network namespace (port->admin_ns) when it is made, so the
 * check holds even after the netdev went away.
 */
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/errno.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/printk.h>
#include <linux/uidgid.h>
#include <linux/user_namespace.h>
#include <net/net_namespace.h>

#include "netmap_kern.h"

static struct netmap_uint_param nm_dev_gid = { 0, 0, (u32)-2 };
static struct netmap_uint_param nm_dev_mode = { 0600, 0600, 0666 };
module_param_cb(dev_gid, &netmap_uint_param_ops, &nm_dev_gid, 0444);
MODULE_PARM_DESC(dev_gid, "group of /dev/netmap (load time only; default 0)");
module_param_cb(dev_mode, &netmap_uint_param_ops, &nm_dev_mode, 0444);
MODULE_PARM_DESC(dev_mode,
		 "mode of /dev/netmap, 0600 to 0666, read and write bits only (load time only; default 0600)");

/**
 * netmap_dev_node_perm() - the owner, group and mode of the device node
 * @mode: set to the mode
 * @uid: set to root
 * @gid: set to the group
 *
 * Return: 0, or -EINVAL when dev_mode has bits other than read and write.
 */
int netmap_dev_node_perm(umode_t *mode, kuid_t *uid, kgid_t *gid)
{
	unsigned int m = READ_ONCE(nm_dev_mode.val);

	if (m & ~0666) {
		pr_err("dev_mode %#o: only read and write bits may be set\n",
		       m);
		return -EINVAL;
	}
	*mode = m;
	*uid = GLOBAL_ROOT_UID;
	*gid = make_kgid(&init_user_ns, READ_ONCE(nm_dev_gid.val));
	return 0;
}

/**
 * netmap_net_admin() - may the caller administer @net's devices?
 * @net: the network namespace of the netdev concerned
 *
 * Return: 0, or -EPERM without CAP_NET_ADMIN in the user namespace that
 * owns @net.
 */
int netmap_net_admin(const struct net *net)
{
	return ns_capable(net->user_ns, CAP_NET_ADMIN) ? 0 : -EPERM;
}

/*
 * A netdev's frames pass through @mem: from now on, naming the region by
 * its id needs CAP_NET_ADMIN over @ns, or over the initial namespace once
 * netdevs of two namespaces share it.
 */
static void nm_mem_set_admin(struct netmap_mem *mem, struct user_namespace *ns)
{
	netmap_mem_lock(mem);
	if (mem->admin_ns && mem->admin_ns != ns)
		ns = &init_user_ns;
	if (mem->admin_ns != ns) {
		if (mem->admin_ns)
			put_user_ns(mem->admin_ns);
		mem->admin_ns = get_user_ns(ns);
	}
	netmap_mem_unlock(mem);
}

/**
 * netmap_mem_admin() - may the caller name @mem by its id?
 * @mem: a region a request asks for by nr_mem_id
 *
 * A region that netdevs send and receive in (the global one, which every
 * NIC port uses, or a persistent or guest port's) would show their frames
 * to anyone who maps it.
 *
 * Return: 0, or -EPERM without CAP_NET_ADMIN over the namespace of those
 * netdevs (the initial one for the global region, which is made so).
 */
int netmap_mem_admin(struct netmap_mem *mem)
{
	int err = 0;

	netmap_mem_lock(mem);
	if (mem->admin_ns && !ns_capable(mem->admin_ns, CAP_NET_ADMIN))
		err = -EPERM;
	netmap_mem_unlock(mem);
	return err;
}

/**
 * netmap_port_set_admin() - the port stands for a netdev of @net
 * @port: a port being made
 * @net: the netdev's network namespace
 *
 * Every later use of the port needs CAP_NET_ADMIN over @net
 * (netmap_port_admin()). netmap_port_fini() drops the reference.
 */
void netmap_port_set_admin(struct netmap_port *port, const struct net *net)
{
	port->admin_ns = get_user_ns(net->user_ns);
	if (port->mem)
		nm_mem_set_admin(port->mem, net->user_ns);
}
EXPORT_SYMBOL_GPL(netmap_port_set_admin);

/**
 * netmap_port_admin() - may the caller use @port?
 * @port: any port
 *
 * Return: 0, or -EPERM when the port stands for a netdev and the caller
 * lacks CAP_NET_ADMIN over the netdev's network namespace.
 */
int netmap_port_admin(const struct netmap_port *port)
{
	if (port->admin_ns && !ns_capable(port->admin_ns, CAP_NET_ADMIN))
		return -EPERM;
	return 0;
}
