// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The legacy control API: NIOCGINFO and NIOCREGIF on a struct nmreq.
 *
 * Each legacy request is translated into the NIOCCTRL one and run through
 * the same code (port info, register, header length); the results are
 * translated back. The translation:
 *
 *   nr_flags & NR_REG_MASK    the NR_REG_* mode; when 0 the mode comes from
 *                             nr_ringid: NETMAP_SW_RING -> SW,
 *                             NETMAP_HW_RING -> ONE_NIC, else ALL_NIC
 *   nr_ringid & 0xfff         the ring of ONE_NIC / ONE_SW, or the pipe id
 *                             of the deprecated PIPE_MASTER / PIPE_SLAVE
 *                             modes, which become the name "X{N" / "X}N"
 *   NETMAP_NO_TX_POLL,
 *   NETMAP_DO_RX_POLL         NR_NO_TX_POLL, NR_DO_RX_POLL
 *   other nr_flags bits       the NR_* flags
 *   nr_arg2                   nr_mem_id (in and out)
 *   nr_arg3                   nr_extra_bufs (in and out)
 *
 * NIOCREGIF's nr_cmd selects other requests: NETMAP_BDG_VNET_HDR sets the
 * virtio-net header length to nr_arg1 (PORT_HDR_SET; stock QEMU sends it
 * on its bound descriptor), NETMAP_VNET_HDR_GET reads it into nr_arg1. The
 * VALE commands (attach, detach, newif, delif, polling) go to
 * netmap_vale_legacy(); NETMAP_BDG_LIST does too, on NIOCGINFO only. Other
 * commands (NETMAP_BDG_REGOPS, the ptnetmap ones) are -EINVAL.
 *
 * Any nr_version from 14 up is taken, as API 14, and left as it is; below
 * 14 is -EINVAL. nr_name is cut to 15 bytes. Past the version check the
 * whole struct nmreq goes back to userspace, also on failure; the reply
 * fields (nr_offset, nr_memsize, the geometry, nr_arg2, nr_arg3, nr_arg1
 * of NETMAP_VNET_HDR_GET) change only on success.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "netmap_kern.h"

static void nm_legacy_to_register(const struct nmreq *nmr, char *name,
				  struct nmreq_register *reg)
{
	u32 mode = nmr->nr_flags & NR_REG_MASK;
	u32 ring = nmr->nr_ringid & NETMAP_RING_MASK;

	memset(reg, 0, sizeof(*reg));
	strscpy(name, nmr->nr_name, NETMAP_REQ_IFNAMSIZ);
	if (mode == NR_REG_DEFAULT) {
		if (nmr->nr_ringid & NETMAP_SW_RING)
			mode = NR_REG_SW;
		else if (nmr->nr_ringid & NETMAP_HW_RING)
			mode = NR_REG_ONE_NIC;
		else
			mode = NR_REG_ALL_NIC;
	}
	if (mode == NR_REG_PIPE_MASTER || mode == NR_REG_PIPE_SLAVE) {
		size_t len = strlen(name);

		scnprintf(name + len, NETMAP_REQ_IFNAMSIZ - len, "%c%u",
			  mode == NR_REG_PIPE_MASTER ? '{' : '}', ring);
		mode = NR_REG_ALL_NIC;
		ring = 0;
	}
	reg->nr_mode = mode;
	reg->nr_ringid = ring;
	reg->nr_flags = nmr->nr_flags & ~(u32)NR_REG_MASK;
	if (nmr->nr_ringid & NETMAP_NO_TX_POLL)
		reg->nr_flags |= NR_NO_TX_POLL;
	if (nmr->nr_ringid & NETMAP_DO_RX_POLL)
		reg->nr_flags |= NR_DO_RX_POLL;
	reg->nr_tx_slots = nmr->nr_tx_slots;
	reg->nr_rx_slots = nmr->nr_rx_slots;
	reg->nr_tx_rings = nmr->nr_tx_rings;
	reg->nr_rx_rings = nmr->nr_rx_rings;
	reg->nr_mem_id = nmr->nr_arg2;
	reg->nr_extra_bufs = nmr->nr_arg3;
}

static void nm_legacy_results(struct nmreq *nmr,
			      const struct nmreq_register *reg)
{
	nmr->nr_offset = reg->nr_offset;
	nmr->nr_memsize = reg->nr_memsize;	/* regions are < 4 GiB */
	nmr->nr_tx_slots = reg->nr_tx_slots;
	nmr->nr_rx_slots = reg->nr_rx_slots;
	nmr->nr_tx_rings = reg->nr_tx_rings;
	nmr->nr_rx_rings = reg->nr_rx_rings;
	nmr->nr_arg2 = reg->nr_mem_id;
}

/*
 * NIOCGINFO is PORT_INFO_GET, with no host-ring hints; the answer goes
 * back in nr_memsize, the slot and ring counts and nr_arg2 (the mem_id).
 */
static int nm_legacy_info(struct nmreq *nmr)
{
	char name[NETMAP_REQ_IFNAMSIZ];
	struct nmreq_port_info_get info;
	struct nmreq_register reg;
	int err;

	if (nmr->nr_cmd == NETMAP_BDG_LIST)
		return netmap_vale_legacy(nmr);
	nm_legacy_to_register(nmr, name, &reg);
	info = (struct nmreq_port_info_get){
		.nr_tx_slots = reg.nr_tx_slots,
		.nr_rx_slots = reg.nr_rx_slots,
		.nr_tx_rings = reg.nr_tx_rings,
		.nr_rx_rings = reg.nr_rx_rings,
		.nr_mem_id = reg.nr_mem_id,
	};
	err = netmap_req_port_info(name, &info);
	if (err)
		return err;
	nmr->nr_memsize = info.nr_memsize;	/* regions are < 4 GiB */
	nmr->nr_tx_slots = info.nr_tx_slots;
	nmr->nr_rx_slots = info.nr_rx_slots;
	nmr->nr_tx_rings = info.nr_tx_rings;
	nmr->nr_rx_rings = info.nr_rx_rings;
	nmr->nr_arg2 = info.nr_mem_id;
	return 0;
}

static int nm_legacy_regif(struct netmap_priv *priv, struct nmreq *nmr)
{
	char name[NETMAP_REQ_IFNAMSIZ];
	struct nmreq_register reg;
	u32 len;
	int err;

	switch (nmr->nr_cmd) {
	case 0:
		nm_legacy_to_register(nmr, name, &reg);
		err = netmap_register(priv, name, &reg);
		if (!err) {
			nm_legacy_results(nmr, &reg);
			nmr->nr_arg3 = reg.nr_extra_bufs;
		}
		return err;
	case NETMAP_BDG_VNET_HDR:
		return netmap_req_hdr_set(nmr->nr_name, nmr->nr_arg1);
	case NETMAP_VNET_HDR_GET:
		err = netmap_req_hdr_get(nmr->nr_name, &len);
		if (!err)
			nmr->nr_arg1 = len;
		return err;
	case NETMAP_BDG_ATTACH:
	case NETMAP_BDG_DETACH:
	case NETMAP_BDG_NEWIF:
	case NETMAP_BDG_DELIF:
	case NETMAP_BDG_POLLING_ON:
	case NETMAP_BDG_POLLING_OFF:
		return netmap_vale_legacy(nmr);	/* vale_ctrl.c */
	default:
		return -EINVAL;
	}
}

/**
 * netmap_ioctl_legacy() - NIOCGINFO and NIOCREGIF
 * @priv: the descriptor, with priv->lock held
 * @cmd: the ioctl
 * @arg: the user's struct nmreq
 *
 * Return: 0 or a negative errno: -EFAULT for an unreadable request,
 * -EINVAL for a version below 14, or the request's error.
 */
long netmap_ioctl_legacy(struct netmap_priv *priv, unsigned int cmd,
			 void __user *arg)
{
	struct nmreq nmr, reply;
	bool bound;
	int err;

	if (copy_from_user(&nmr, arg, sizeof(nmr)))
		return -EFAULT;
	if (nmr.nr_version < NETMAP_MIN_API)
		return -EINVAL;
	nmr.nr_name[sizeof(nmr.nr_name) - 1] = '\0';
	reply = nmr;
	if (cmd == NIOCGINFO)
		err = nm_legacy_info(&reply);
	else
		err = nm_legacy_regif(priv, &reply);
	bound = cmd == NIOCREGIF && nmr.nr_cmd == 0 && !err;
	if (copy_to_user(arg, err ? &nmr : &reply, sizeof(nmr)) && !err)
		err = -EFAULT;
	if (bound)
		netmap_register_finish(priv, err);
	return err;
}
