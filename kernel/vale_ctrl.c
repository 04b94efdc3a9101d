// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * VALE control requests: VALE_ATTACH, VALE_DETACH, VALE_LIST,
 * VALE_POLLING_ENABLE/DISABLE (VALE_NEWIF and VALE_DELIF are in vale.c),
 * and the legacy nr_cmd forms of all of them, which map onto the same
 * functions:
 *
 *   BDG_ATTACH      nr_name "valeS:IF"; the host stack too when nr_arg1
 *                   is NETMAP_BDG_HOST or the mode is NR_REG_NIC_SW
 *   BDG_DETACH      nr_name "valeS:IF"
 *   BDG_LIST        nr_name "valeS:P": its switch and port in nr_arg1 and
 *                   nr_arg2; empty: the first port at or after the
 *                   (nr_arg1, nr_arg2) cursor, its name in nr_name. The
 *                   name comes back NUL-padded to 16 bytes; one that does
 *                   not fit in 15 (the host member "valeS:IF^" of a
 *                   15-byte "valeS:IF") comes back empty, not cut into
 *                   another port's name: VALE_LIST has room for it
 *   BDG_NEWIF       nr_name, nr_tx/rx_slots, nr_tx/rx_rings
 *   BDG_DELIF       nr_name
 *   BDG_POLLING_ON  the mode NR_REG_ONE_NIC means MULTI_CPU, anything
 *                   else SINGLE_CPU; the first CPU in nr_ringid, the
 *                   number of CPUs in nr_arg1
 *   BDG_POLLING_OFF nr_name
 *
 * Each function takes netmap_lock itself; none touches user memory.
 */
#include <linux/errno.h>
#include <linux/if.h>
#include <linux/kernel.h>
#include <linux/string.h>

#include "vale.h"

/* The member named @name ("valeS:P"), or an error. netmap_lock held. */
static struct vale_member *vale_member_by_name(const char *name, int *err)
{
	char swname[IFNAMSIZ];
	struct vale_switch *sw;
	struct vale_member *m;
	const char *pname;

	if (!vale_name_split(name, swname, sizeof(swname), &pname)) {
		*err = -EINVAL;
		return NULL;
	}
	sw = vale_switch_find(swname);
	m = sw ? vale_member_find(sw, name) : NULL;
	*err = m ? 0 : -ENXIO;
	return m;
}

/* A persistent VALE port joins a switch; -ENOENT: @ifname is not one. */
static int vale_attach_persistent(const char *swname, const char *ifname,
				  bool host, u32 *idx)
{
	struct netmap_port *port = netmap_port_find(ifname);
	struct vale_port *vp;
	int err;

	if (!port)
		return -ENOENT;
	vp = vale_port_of(port);
	if (!vale_is_port(port) || !vp->persistent)
		err = -ENOENT;
	else if (host)
		err = -EINVAL;		/* VALE ports have no host stack */
	else if (netmap_port_admin(port))
		err = -EPERM;
	else if (rcu_access_pointer(vp->m.sw) || port->users)
		err = -EBUSY;
	else
		err = vale_member_add(swname, &vp->m, ifname);
	if (!err)
		*idx = vp->m.idx;
	netmap_port_put(port);
	return err;
}

/**
 * netmap_vale_attach() - VALE_ATTACH: put an interface in a switch
 * @name: "valeS:IF", IF a persistent VALE port or a NIC
 * @req: reg.nr_mode NR_REG_NIC_SW also attaches the NIC's host stack;
 *	NR_REG_ALL_NIC (or NR_REG_DEFAULT) does not. port_index is set.
 *
 * Return: 0, -EINVAL (bad name or mode), -ENXIO (no such interface),
 * -EBUSY (in a switch already, or bound), -ENOMEM or -ENOSPC.
 */
int netmap_vale_attach(const char *name, struct nmreq_vale_attach *req)
{
	u32 mode = req->reg.nr_mode;
	char swname[IFNAMSIZ];
	const char *ifname;
	struct vale_switch *sw;
	int err;

	if (!vale_name_split(name, swname, sizeof(swname), &ifname))
		return -EINVAL;
	if (mode != NR_REG_DEFAULT && mode != NR_REG_ALL_NIC &&
	    mode != NR_REG_NIC_SW)
		return -EINVAL;
	mutex_lock(&netmap_lock);
	err = vale_attach_persistent(swname, ifname, mode == NR_REG_NIC_SW,
				     &req->port_index);
	if (err == -ENOENT) {
		sw = vale_switch_find(swname);
		err = sw && vale_member_find(sw, name) ? -EBUSY : -ENOENT;
	}
	mutex_unlock(&netmap_lock);
	if (err != -ENOENT)
		return err;
	if (!netmap_port_name_ok(ifname))
		return -EINVAL;
	return vale_nic_attach(swname, ifname, mode == NR_REG_NIC_SW,
			       &req->port_index);
}

/**
 * netmap_vale_detach() - VALE_DETACH: take an interface out of a switch
 * @name: "valeS:IF"
 * @req: port_index is set
 *
 * Return: 0, -EINVAL (bad name, or the host member of a NIC), -ENXIO (not
 * in the switch), -EPERM (a NIC or persistent port the caller may not
 * administer, perm.c) or -EBUSY (a bound or ephemeral VALE port).
 */
int netmap_vale_detach(const char *name, struct nmreq_vale_detach *req)
{
	struct vale_member *m;
	struct vale_port *vp;
	int err;

	mutex_lock(&netmap_lock);
	m = vale_member_by_name(name, &err);
	if (m)
		err = vale_member_admin(m);
	if (m && !err) {
		req->port_index = m->idx;
		if (m->nic) {
			err = vale_nic_detach(m);
		} else {
			vp = container_of(m, struct vale_port, m);
			if (!vp->persistent || vp->up.users)
				err = -EBUSY;
			else
				vale_member_remove(m);
		}
	}
	mutex_unlock(&netmap_lock);
	return err;
}

/**
 * netmap_vale_list() - VALE_LIST: a port's indices, or the next port
 * @name: NETMAP_REQ_IFNAMSIZ bytes, in and out: "valeS:P" to look up, or
 *	empty to iterate (the name found is written there)
 * @bridge: in and out, the switch index
 * @port: in and out, the port index
 *
 * Return: 0; -ENOENT when the port does not exist or the iteration is
 * over; -EINVAL for a bad name.
 */
int netmap_vale_list(char *name, u16 *bridge, u32 *port)
{
	struct vale_switch *sw;
	struct vale_member *m;
	u32 b, p;
	int err = -ENOENT;

	mutex_lock(&netmap_lock);
	if (name[0]) {
		m = vale_member_by_name(name, &err);
		if (m) {
			sw = rcu_dereference_protected(m->sw,
							lockdep_is_held(&netmap_lock));
			*bridge = sw->idx;
			*port = m->idx;
		} else if (err == -ENXIO) {
			err = -ENOENT;
		}
		goto out;
	}
	for (b = *bridge, p = *port; b < VALE_SWITCHES_MAX; b++, p = 0) {
		sw = vale_switch_at(b);
		for (; sw && p < sw->hi; p++) {
			m = rcu_dereference_protected(sw->members[p],
						lockdep_is_held(&netmap_lock));
			if (m) {
				strscpy(name, m->name, NETMAP_REQ_IFNAMSIZ);
				*bridge = b;
				*port = p;
				err = 0;
				goto out;
			}
		}
	}
out:
	mutex_unlock(&netmap_lock);
	return err;
}

/**
 * netmap_vale_polling() - VALE_POLLING_ENABLE / VALE_POLLING_DISABLE
 * @name: "valeS:IF", IF a NIC in the switch
 * @on: enable
 * @req: enable: the mode and the CPUs
 *
 * Return: 0, -ENXIO (no such member), -EPERM (perm.c), -EINVAL (not a
 * NIC, bad mode or CPUs), -EBUSY (already in that state) or -ENOMEM.
 */
int netmap_vale_polling(const char *name, bool on,
			const struct nmreq_vale_polling *req)
{
	struct vale_member *m;
	int err;

	mutex_lock(&netmap_lock);
	m = vale_member_by_name(name, &err);
	if (m)
		err = vale_member_admin(m);
	if (m && !err)
		err = vale_nic_polling(m, on, req);
	mutex_unlock(&netmap_lock);
	return err;
}

/**
 * netmap_vale_legacy() - the VALE commands of the legacy API
 * @nmr: the request (nr_cmd one of the NETMAP_BDG_* VALE commands);
 *	results are written back into it
 *
 * Return: 0 or the request's error; -EINVAL for other commands.
 */
int netmap_vale_legacy(struct nmreq *nmr)
{
	char name[NETMAP_REQ_IFNAMSIZ] = {};
	struct nmreq_vale_polling poll = {};
	struct nmreq_vale_attach att = {};
	struct nmreq_vale_detach det = {};
	struct nmreq_vale_newif nif = {};
	u32 port;
	int err;

	strscpy(name, nmr->nr_name, sizeof(nmr->nr_name));
	switch (nmr->nr_cmd) {
	case NETMAP_BDG_ATTACH:
		if (nmr->nr_arg1 == NETMAP_BDG_HOST ||
		    (nmr->nr_flags & NR_REG_MASK) == NR_REG_NIC_SW)
			att.reg.nr_mode = NR_REG_NIC_SW;
		else
			att.reg.nr_mode = NR_REG_ALL_NIC;
		return netmap_vale_attach(name, &att);
	case NETMAP_BDG_DETACH:
		return netmap_vale_detach(name, &det);
	case NETMAP_BDG_LIST:
		port = nmr->nr_arg2;
		err = netmap_vale_list(name, &nmr->nr_arg1, &port);
		if (!err) {
			nmr->nr_arg2 = port;
			memset(nmr->nr_name, 0, sizeof(nmr->nr_name));
			if (strlen(name) < sizeof(nmr->nr_name))
				strscpy(nmr->nr_name, name,
					sizeof(nmr->nr_name));
		}
		return err;
	case NETMAP_BDG_NEWIF:
		nif.nr_tx_slots = nmr->nr_tx_slots;
		nif.nr_rx_slots = nmr->nr_rx_slots;
		nif.nr_tx_rings = nmr->nr_tx_rings;
		nif.nr_rx_rings = nmr->nr_rx_rings;
		nif.nr_mem_id = nmr->nr_arg2;
		return netmap_vale_newif(name, &nif);
	case NETMAP_BDG_DELIF:
		return netmap_vale_delif(name);
	case NETMAP_BDG_POLLING_ON:
		poll.nr_mode = (nmr->nr_flags & NR_REG_MASK) == NR_REG_ONE_NIC ?
			       NETMAP_POLLING_MODE_MULTI_CPU :
			       NETMAP_POLLING_MODE_SINGLE_CPU;
		poll.nr_first_cpu_id = nmr->nr_ringid & NETMAP_RING_MASK;
		poll.nr_num_polling_cpus = nmr->nr_arg1;
		return netmap_vale_polling(name, true, &poll);
	case NETMAP_BDG_POLLING_OFF:
		return netmap_vale_polling(name, false, NULL);
	default:
		return -EINVAL;
	}
}
