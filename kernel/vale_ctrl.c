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

/*
 * The member named @name, or an error: -EINVAL when @name is not a VALE
 * name, -ENXIO when there is no such member. netmap_lock held.
 */
static struct vale_member *vale_member_by_name(const char *name, int *err)
{
	char swname[VALE_NAME_MAX + 1];
	struct vale_switch *sw;
	struct vale_member *m;
	const char *pname;

	if (!netmap_is_vale_name(name)) {
		*err = -EINVAL;
		return NULL;
	}
	sw = vale_name_split(name, swname, &pname) ?
	     vale_switch_find(swname) : NULL;
	m = sw ? vale_member_find(sw, name) : NULL;
	*err = m ? 0 : -ENXIO;
	return m;
}

/*
 * The persistent port @vp, in no switch, joins @swname directly. netmap_lock
 * held.
 */
static int vale_attach_persistent(const char *swname, struct vale_port *vp,
				  bool host, u32 *idx)
{
	int err;

	if (host)
		return -EINVAL;		/* VALE ports have no host stack */
	if (vp->up.users)
		return -EBUSY;
	err = vale_member_add(swname, &vp->m, vp->up.name);
	if (!err)
		*idx = vp->m.idx;
	return err;
}

/**
 * netmap_vale_attach() - VALE_ATTACH: put an interface in a switch
 * @name: "valeS:IF", IF a persistent VALE port or a NIC
 * @req: reg.nr_mode NR_REG_ALL_NIC, or NR_REG_NIC_SW to attach a NIC's
 *	host stack too, with nr_ringid 0; port_index is set, and nothing
 *	else
 *
 * A persistent port in no switch joins the switch itself. One that is in
 * a switch already is bound by the new switch like a NIC (vale_nic.c),
 * when nothing else binds it: it then links both switches.
 *
 * Return: 0, -EINVAL (not a VALE name, a bad port part or mode), -ENOMEM
 * (a bad switch name, too many switches or ports), -EBUSY (the switch has
 * the port already; the interface is bound), -ENXIO (no such interface),
 * -EPERM (an interface the caller may not administer, perm.c).
 */
int netmap_vale_attach(const char *name, struct nmreq_vale_attach *req)
{
	u32 mode = req->reg.nr_mode;
	char swname[VALE_NAME_MAX + 1];
	struct vale_switch *sw;
	struct vale_port *vp;
	const char *ifname;
	bool wrap = false;
	int err;

	if (!netmap_is_vale_name(name))
		return -EINVAL;
	if (!vale_name_split(name, swname, &ifname))
		return -ENOMEM;
	if (!vale_port_part_ok(ifname))
		return -EINVAL;
	mutex_lock(&netmap_lock);
	sw = vale_switch_find(swname);
	if (sw && vale_member_find(sw, name)) {
		err = -EBUSY;
		goto out;
	}
	err = vale_member_room(swname);
	if (err)
		goto out;
	err = -EINVAL;
	if ((mode != NR_REG_ALL_NIC && mode != NR_REG_NIC_SW) ||
	    req->reg.nr_ringid)
		goto out;
	vp = vale_persistent_find(ifname);
	if (vp) {
		if (netmap_port_admin(&vp->up))
			err = -EPERM;
		else if (!rcu_access_pointer(vp->m.sw))
			err = vale_attach_persistent(swname, vp,
						     mode == NR_REG_NIC_SW,
						     &req->port_index);
		else if (mode == NR_REG_NIC_SW)
			err = -EINVAL;
		else if (vp->up.users)
			err = -EBUSY;	/* bound, or in a third switch */
		else
			wrap = true;
		netmap_port_put(&vp->up);
		if (!wrap)
			goto out;
	}
	mutex_unlock(&netmap_lock);
	if (!wrap && !vale_netdev_exists(ifname))
		return -ENXIO;
	return vale_nic_attach(swname, ifname, mode == NR_REG_NIC_SW,
			       &req->port_index);
out:
	mutex_unlock(&netmap_lock);
	return err;
}

/**
 * netmap_vale_detach() - VALE_DETACH: take an interface out of a switch
 * @name: "valeS:IF"
 * @req: port_index is set
 *
 * Return: 0, -EINVAL (not a VALE name, or the host member of a NIC),
 * -ENXIO (no such member), -EPERM (a NIC or persistent port the caller may
 * not administer, perm.c) or -EBUSY (an ephemeral VALE port; a persistent
 * one that is bound, by a descriptor or by a second switch; a NIC with
 * polling threads).
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
		if (vale_nic_is_polling(m)) {
			err = -EBUSY;
		} else if (m->nic) {
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
 * @port: in and out, the port index; VALE_NOPORT when the switch has no
 *	port @name
 *
 * Return: 0; -ENOENT when the switch does not exist or the iteration is
 * over; -EINVAL for a name that does not start with "vale".
 */
int netmap_vale_list(char *name, u16 *bridge, u32 *port)
{
	char swname[VALE_NAME_MAX + 1];
	struct vale_switch *sw;
	struct vale_member *m;
	const char *pname;
	u32 b, p;
	int err = -ENOENT;

	if (name[0] && strncmp(name, NM_BDG_NAME, strlen(NM_BDG_NAME)))
		return -EINVAL;
	mutex_lock(&netmap_lock);
	if (name[0]) {
		sw = vale_name_split(name, swname, &pname) ?
		     vale_switch_find(swname) : NULL;
		if (sw) {
			m = vale_member_find(sw, name);
			*bridge = sw->idx;
			*port = m ? m->idx : VALE_NOPORT;
			err = 0;
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
		err = netmap_vale_newif(name, &nif);
		if (!err || err == -EEXIST) {
			nmr->nr_tx_slots = nif.nr_tx_slots;
			nmr->nr_rx_slots = nif.nr_rx_slots;
			nmr->nr_tx_rings = nif.nr_tx_rings;
			nmr->nr_rx_rings = nif.nr_rx_rings;
			nmr->nr_arg2 = nif.nr_mem_id;
		}
		return err;
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
