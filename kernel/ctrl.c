// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * NIOCCTRL: the request header, its body and its option list, and the
 * requests themselves.
 *
 * Everything comes from userspace and is copied in first: the 88-byte
 * header, then the body (exactly the size the request type defines), then
 * the options (ctrl_opts.c). The checks, in order:
 *
 *   header unreadable                           -EFAULT
 *   nr_version outside [14, 15]                 -EINVAL
 *   nr_reserved not 0                           -EINVAL
 *   unknown nr_reqtype                          -EINVAL
 *   nr_body not NULL exactly when the request
 *   type has a body                             -EINVAL
 *   body unreadable                             -EFAULT
 *   the option list (see ctrl_opts.c)           -EINVAL, -EMSGSIZE, -EFAULT
 *
 * nr_name is cut to its first 63 bytes (byte 63 becomes NUL). Every
 * option then reads EOPNOTSUPP and the request runs, setting the status
 * of the options it acts on. Only REGISTER fails on an option left at
 * EOPNOTSUPP: the binding is undone and the request fails with
 * EOPNOTSUPP; the other requests ignore options they do not act on.
 *
 * Once the version was checked, the header goes back to userspace
 * whatever the outcome (as on Linux upstream), and so do the option
 * headers; the body and the bodies of the options with status 0 go back
 * only when the request succeeded.
 *
 * No lock is held while user memory is accessed; the requests take
 * netmap_lock themselves (REGISTER also runs under priv->lock, taken by
 * the caller). SYNC_KLOOP_START drops priv->lock while its loop runs
 * (kloop.c), so that SYNC_KLOOP_STOP can reach the descriptor.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "ctrl_opts.h"
#include "netmap_kern.h"

/**
 * struct netmap_ctrl_req - a NIOCCTRL request, copied into the kernel
 * @hdr: the header
 * @body: the body, or NULL for requests without one
 * @body_size: its size
 * @opts: the option list
 */
struct netmap_ctrl_req {
	struct nmreq_header hdr;
	void *body;
	size_t body_size;
	struct nm_opts opts;
};

/* ---------------------------------------------------------------------- */
/* Requests (shared with the legacy API)                                   */
/* ---------------------------------------------------------------------- */

/* An empty name: the size and id of region nr_mem_id (0: the global). */
static int nm_port_info_mem(struct nmreq_port_info_get *info)
{
	struct netmap_mem *mem;

	mem = netmap_mem_find(info->nr_mem_id ?: NM_GLOBAL_MEM_ID);
	if (!mem)
		return -EINVAL;
	info->nr_memsize = mem->size;
	info->nr_mem_id = mem->id;
	netmap_mem_put(mem);
	return 0;
}

/**
 * netmap_req_port_info() - PORT_INFO_GET: describe a port or a region
 * @name: the port name; empty to ask about region @info->nr_mem_id
 * @info: the request: the counts and nr_mem_id are the hints a REGISTER
 *	in NR_REG_ALL_NIC mode would give (an idle NIC takes nonzero host
 *	ring counts from it); filled with the answer on success, left as it
 *	was on error
 *
 * The lookup may create what REGISTER would (a VALE port, a pipe, a NIC
 * port); whatever is not otherwise held goes when the lookup's reference
 * is dropped.
 *
 * Return: 0, -EINVAL for an empty name without such a region, or the
 * lookup's error.
 */
int netmap_req_port_info(const char *name, struct nmreq_port_info_get *info)
{
	struct nmreq_register reg = {
		.nr_mode = NR_REG_ALL_NIC,
		.nr_tx_slots = info->nr_tx_slots,
		.nr_rx_slots = info->nr_rx_slots,
		.nr_tx_rings = info->nr_tx_rings,
		.nr_rx_rings = info->nr_rx_rings,
		.nr_host_tx_rings = info->nr_host_tx_rings,
		.nr_host_rx_rings = info->nr_host_rx_rings,
		.nr_mem_id = info->nr_mem_id,
	};
	struct netmap_port *port;
	int err;

	if (!name[0])
		return nm_port_info_mem(info);
	mutex_lock(&netmap_lock);
	err = netmap_port_lookup(name, &reg, &port);
	if (!err) {
		netmap_port_fill_info(port, &reg);
		netmap_port_put(port);
	}
	mutex_unlock(&netmap_lock);
	if (err)
		return err;
	info->nr_memsize = reg.nr_memsize;
	info->nr_tx_slots = reg.nr_tx_slots;
	info->nr_rx_slots = reg.nr_rx_slots;
	info->nr_tx_rings = reg.nr_tx_rings;
	info->nr_rx_rings = reg.nr_rx_rings;
	info->nr_host_tx_rings = reg.nr_host_tx_rings;
	info->nr_host_rx_rings = reg.nr_host_rx_rings;
	info->nr_mem_id = reg.nr_mem_id;
	return 0;
}

/* The virtio-net header lengths netmap knows. */
static bool nm_hdr_len_ok(u32 len)
{
	return len == 0 || len == 10 || len == 12;
}

/**
 * netmap_req_hdr_set() - set the virtio-net header length of a VALE port
 * @name: the port name, "valeS:P" of a port that exists
 * @len: 0, 10 or 12
 *
 * The length is checked first. Other names, and VALE names of no port,
 * are -ENXIO: the lookup creates a missing VALE port, which then holds
 * no reference but ours and goes again.
 *
 * Return: 0, -EINVAL, -ENXIO or the lookup's error.
 */
int netmap_req_hdr_set(const char *name, u32 len)
{
	struct netmap_port *port;
	int err;

	if (!nm_hdr_len_ok(len))
		return -EINVAL;
	if (!netmap_is_vale_name(name))
		return -ENXIO;
	mutex_lock(&netmap_lock);
	err = netmap_port_lookup(name, NULL, &port);
	if (!err) {
		if (!port->ops->hdr_set || (port->refs == 1 && !port->users))
			err = -ENXIO;
		else
			err = port->ops->hdr_set(port, len);
		netmap_port_put(port);
	}
	mutex_unlock(&netmap_lock);
	return err;
}

/**
 * netmap_req_hdr_get() - the virtio-net header length of a port
 * @name: the port name
 * @len: the answer
 *
 * Return: 0 or the lookup's error.
 */
int netmap_req_hdr_get(const char *name, u32 *len)
{
	struct netmap_port *port;
	int err;

	mutex_lock(&netmap_lock);
	err = netmap_port_lookup(name, NULL, &port);
	if (!err) {
		*len = port->ops->hdr_get ? port->ops->hdr_get(port) : 0;
		netmap_port_put(port);
	}
	mutex_unlock(&netmap_lock);
	return err;
}

/*
 * REGISTER acts on the EXTMEM option (user memory becomes the region of
 * the ports it creates, extmem.c), on the OFFSETS option (offsets of the
 * bound rings, offsets.c) and on the CSB option. An OFFSETS or CSB error
 * undoes the binding here: a failed request gets no nm_ctrl_type.finish
 * call.
 */
static int nm_ctrl_register(struct netmap_priv *priv,
			    struct netmap_ctrl_req *req)
{
	struct nmreq_option *opt = nm_opts_take(&req->opts,
						NETMAP_REQ_OPT_EXTMEM);
	struct netmap_mem *ext = NULL;
	struct nmreq_option *csb;
	int err;

	if (opt)
		ext = netmap_extmem_get(opt);
	if (IS_ERR(ext))
		return PTR_ERR(ext);
	err = netmap_register_mem(priv, req->hdr.nr_name, req->body, ext);
	if (ext)
		netmap_mem_put(ext);
	if (err)
		return err;
	opt = nm_opts_take(&req->opts, NETMAP_REQ_OPT_OFFSETS);
	if (opt) {
		err = netmap_offsets_register(priv, opt);
		if (err) {
			netmap_register_finish(priv, err);
			return err;
		}
	}
	csb = nm_opts_take(&req->opts, NETMAP_REQ_OPT_CSB);
	if (csb) {
		err = netmap_csb_register(priv, csb);
		if (err)
			netmap_register_finish(priv, err);
	}
	return err;
}

static int nm_ctrl_port_info(struct netmap_priv *priv,
			     struct netmap_ctrl_req *req)
{
	return netmap_req_port_info(req->hdr.nr_name, req->body);
}

static int nm_ctrl_hdr_set(struct netmap_priv *priv,
			   struct netmap_ctrl_req *req)
{
	struct nmreq_port_hdr *hdr = req->body;

	return netmap_req_hdr_set(req->hdr.nr_name, hdr->nr_hdr_len);
}

static int nm_ctrl_hdr_get(struct netmap_priv *priv,
			   struct netmap_ctrl_req *req)
{
	struct nmreq_port_hdr *hdr = req->body;

	return netmap_req_hdr_get(req->hdr.nr_name, &hdr->nr_hdr_len);
}

/*
 * The region of the port named in the header, looked up as REGISTER does
 * in NR_REG_ALL_NIC mode with the body's nr_mem_id (so it may create the
 * port for the time of the request). An nr_mem_id naming no region is
 * -EINVAL before anything else; an empty name names no port: -ENXIO.
 */
static int nm_ctrl_pools_info(struct netmap_priv *priv,
			      struct netmap_ctrl_req *req)
{
	struct nmreq_pools_info *info = req->body;
	struct nmreq_register reg = {
		.nr_mode = NR_REG_ALL_NIC,
		.nr_mem_id = info->nr_mem_id,
	};
	struct netmap_port *port;
	struct netmap_mem *mem;
	int err;

	if (reg.nr_mem_id) {
		mem = netmap_mem_find(reg.nr_mem_id);
		if (!mem)
			return -EINVAL;
		netmap_mem_put(mem);
	}
	if (!req->hdr.nr_name[0])
		return -ENXIO;
	mutex_lock(&netmap_lock);
	err = netmap_port_lookup(req->hdr.nr_name, &reg, &port);
	if (!err) {
		mem = port->mem;
		netmap_mem_get(mem);
		netmap_port_put(port);
	}
	mutex_unlock(&netmap_lock);
	if (err)
		return err;
	netmap_mem_pools_info(mem, info);
	netmap_mem_put(mem);
	return 0;
}

/* VALE requests: vale_ctrl.c and vale.c. */
static int nm_ctrl_vale_attach(struct netmap_priv *priv,
			       struct netmap_ctrl_req *req)
{
	return netmap_vale_attach(req->hdr.nr_name, req->body);
}

static int nm_ctrl_vale_detach(struct netmap_priv *priv,
			       struct netmap_ctrl_req *req)
{
	return netmap_vale_detach(req->hdr.nr_name, req->body);
}

/* The name found goes back in the header, which is always copied back. */
static int nm_ctrl_vale_list(struct netmap_priv *priv,
			     struct netmap_ctrl_req *req)
{
	struct nmreq_vale_list *l = req->body;

	return netmap_vale_list(req->hdr.nr_name, &l->nr_bridge_idx,
				&l->nr_port_idx);
}

/* On -EEXIST the body tells the port that has the name: it goes back too. */
static int nm_ctrl_vale_newif(struct netmap_priv *priv,
			      struct netmap_ctrl_req *req)
{
	int err = netmap_vale_newif(req->hdr.nr_name, req->body);

	if (err == -EEXIST &&
	    copy_to_user(u64_to_user_ptr(req->hdr.nr_body), req->body,
			 req->body_size))
		err = -EFAULT;
	return err;
}

static int nm_ctrl_vale_delif(struct netmap_priv *priv,
			      struct netmap_ctrl_req *req)
{
	return netmap_vale_delif(req->hdr.nr_name);
}

static int nm_ctrl_vale_poll_on(struct netmap_priv *priv,
				struct netmap_ctrl_req *req)
{
	return netmap_vale_polling(req->hdr.nr_name, true, req->body);
}

static int nm_ctrl_vale_poll_off(struct netmap_priv *priv,
				 struct netmap_ctrl_req *req)
{
	return netmap_vale_polling(req->hdr.nr_name, false, NULL);
}

/* CSB mode and the sync kloop: csb.c and kloop.c. */
static int nm_ctrl_csb_enable(struct netmap_priv *priv,
			      struct netmap_ctrl_req *req)
{
	return netmap_csb_enable(priv, nm_opts_take(&req->opts, NETMAP_REQ_OPT_CSB));
}

/* Runs until the loop ends, with priv->lock dropped meanwhile. */
static int nm_ctrl_kloop_start(struct netmap_priv *priv,
			       struct netmap_ctrl_req *req)
{
	struct nmreq_option *efds, *mode;

	efds = nm_opts_take(&req->opts, NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS);
	mode = nm_opts_take(&req->opts, NETMAP_REQ_OPT_SYNC_KLOOP_MODE);
	return netmap_kloop_start(priv, req->body, efds, mode);
}

static int nm_ctrl_kloop_stop(struct netmap_priv *priv,
			      struct netmap_ctrl_req *req)
{
	return netmap_kloop_stop(priv, req->hdr.nr_name);
}

#define NM_CTRL_STRICT_OPTS	BIT(0)

/**
 * struct nm_ctrl_type - how to handle one request type
 * @body_size: size of its body; 0 when it has none (nr_body must be NULL)
 * @flags: NM_CTRL_STRICT_OPTS: an option the request did not act on
 *	fails it with -EOPNOTSUPP
 * @handle: the request
 * @finish: for requests with lasting effects: called after a successful
 *	@handle with the request's outcome: 0 when everything was written
 *	back, to commit; an error (-EOPNOTSUPP for a leftover option,
 *	-EFAULT) to undo
 */
struct nm_ctrl_type {
	size_t body_size;
	u32 flags;
	int (*handle)(struct netmap_priv *priv, struct netmap_ctrl_req *req);
	void (*finish)(struct netmap_priv *priv, int err);
};

static const struct nm_ctrl_type nm_ctrl_types[] = {
	[NETMAP_REQ_REGISTER] = {
		sizeof(struct nmreq_register), NM_CTRL_STRICT_OPTS,
		nm_ctrl_register, netmap_register_finish },
	[NETMAP_REQ_PORT_INFO_GET] = {
		sizeof(struct nmreq_port_info_get), 0, nm_ctrl_port_info },
	[NETMAP_REQ_VALE_ATTACH] = {
		sizeof(struct nmreq_vale_attach), 0, nm_ctrl_vale_attach },
	[NETMAP_REQ_VALE_DETACH] = {
		sizeof(struct nmreq_vale_detach), 0, nm_ctrl_vale_detach },
	[NETMAP_REQ_VALE_LIST] = {
		sizeof(struct nmreq_vale_list), 0, nm_ctrl_vale_list },
	[NETMAP_REQ_PORT_HDR_SET] = {
		sizeof(struct nmreq_port_hdr), 0, nm_ctrl_hdr_set },
	[NETMAP_REQ_PORT_HDR_GET] = {
		sizeof(struct nmreq_port_hdr), 0, nm_ctrl_hdr_get },
	[NETMAP_REQ_VALE_NEWIF] = {
		sizeof(struct nmreq_vale_newif), 0, nm_ctrl_vale_newif },
	[NETMAP_REQ_VALE_DELIF] = { 0, 0, nm_ctrl_vale_delif },
	[NETMAP_REQ_VALE_POLLING_ENABLE] = {
		sizeof(struct nmreq_vale_polling), 0, nm_ctrl_vale_poll_on },
	[NETMAP_REQ_VALE_POLLING_DISABLE] = {
		sizeof(struct nmreq_vale_polling), 0, nm_ctrl_vale_poll_off },
	[NETMAP_REQ_POOLS_INFO_GET] = {
		sizeof(struct nmreq_pools_info), 0, nm_ctrl_pools_info },
	[NETMAP_REQ_SYNC_KLOOP_START] = {
		sizeof(struct nmreq_sync_kloop_start), 0,
		nm_ctrl_kloop_start },
	[NETMAP_REQ_SYNC_KLOOP_STOP] = { 0, 0, nm_ctrl_kloop_stop },
	[NETMAP_REQ_CSB_ENABLE] = { 0, 0, nm_ctrl_csb_enable },
};

static void nm_ctrl_req_free(struct netmap_ctrl_req *req)
{
	nm_opts_free(&req->opts);
	kfree(req->body);
	kfree(req);
}

/* ---------------------------------------------------------------------- */
/* NIOCCTRL                                                                */
/* ---------------------------------------------------------------------- */

/**
 * netmap_ioctl_ctrl() - NIOCCTRL
 * @priv: the descriptor, with priv->lock held
 * @arg: the user's struct nmreq_header
 *
 * Return: 0 or a negative errno (see the table at the top of this file).
 */
long netmap_ioctl_ctrl(struct netmap_priv *priv, void __user *arg)
{
	const struct nm_ctrl_type *type = NULL;
	struct netmap_ctrl_req *req;
	bool handled = false;
	int err, werr;

	req = kzalloc(sizeof(*req), GFP_KERNEL);
	if (!req)
		return -ENOMEM;
	err = -EFAULT;
	if (copy_from_user(&req->hdr, arg, sizeof(req->hdr)))
		goto out;
	err = -EINVAL;
	if (req->hdr.nr_version < NETMAP_MIN_API ||
	    req->hdr.nr_version > NETMAP_MAX_API)
		goto out;
	req->hdr.nr_name[sizeof(req->hdr.nr_name) - 1] = '\0';
	if (req->hdr.nr_reserved)
		goto reply;
	if (req->hdr.nr_reqtype >= ARRAY_SIZE(nm_ctrl_types) ||
	    !nm_ctrl_types[req->hdr.nr_reqtype].handle)
		goto reply;
	type = &nm_ctrl_types[req->hdr.nr_reqtype];
	req->body_size = type->body_size;
	if (!req->hdr.nr_body != !req->body_size)
		goto reply;
	if (req->body_size) {
		req->body = memdup_user(u64_to_user_ptr(req->hdr.nr_body),
					req->body_size);
		if (IS_ERR(req->body)) {
			err = PTR_ERR(req->body);
			req->body = NULL;
			goto reply;
		}
	}

	err = nm_opts_read(&req->opts, req->hdr.nr_options, req->body_size);
	if (!err) {
		nm_opts_set_unsupported(&req->opts);
		err = type->handle(priv, req);
		handled = !err;
	}
	if (!err && (type->flags & NM_CTRL_STRICT_OPTS) &&
	    nm_opts_any_unsupported(&req->opts))
		err = -EOPNOTSUPP;
	if (!err && req->body &&
	    copy_to_user(u64_to_user_ptr(req->hdr.nr_body), req->body,
			 req->body_size))
		err = -EFAULT;
	werr = nm_opts_write(&req->opts, !err);
	if (!err)
		err = werr;
reply:
	if (copy_to_user(arg, &req->hdr, sizeof(req->hdr)) && !err)
		err = -EFAULT;
	if (handled && type->finish)
		type->finish(priv, err);
out:
	nm_ctrl_req_free(req);
	return err;
}
