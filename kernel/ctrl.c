// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * NIOCCTRL: the request header, its body and its option list, and the
 * requests themselves.
 *
 * Everything comes from userspace and is copied in first: the 88-byte
 * header, then the body (exactly the size the request type defines), then
 * the options, one by one, following nro_next. The checks, in order:
 *
 *   header unreadable                           -EFAULT
 *   nr_version outside [14, 15]                 -EINVAL
 *   nr_reserved not 0, nr_name not terminated   -EINVAL
 *   unknown nr_reqtype                          -EINVAL
 *   body needed but nr_body is NULL             -EINVAL
 *   body unreadable                             -EFAULT
 *   an option unreadable                        -EFAULT
 *   an option seen twice (a loop)               -EINVAL
 *   nro_size smaller than the option header     -EINVAL
 *   body + options larger than 4096 bytes       -EMSGSIZE
 *   an option type given twice                  -EINVAL
 *   an option the request does not handle       -EOPNOTSUPP
 *
 * Every option read gets nro_status EOPNOTSUPP, written back to userspace
 * whatever the outcome; options a request handles get their own status.
 * A request fails with EOPNOTSUPP, before doing anything, when one of its
 * options is not handled. The body is copied back when the request
 * succeeds.
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

#include "netmap_kern.h"

/* Each option takes at least its header out of the 4096-byte budget. */
#define NM_MAX_OPTS	(NETMAP_REQ_MAXSIZE / sizeof(struct nmreq_option))

struct nm_opt {
	struct nmreq_option __user *uaddr;
	struct nmreq_option *kopt;	/* header and body, copied */
	bool handled;			/* its status and body go back */
};

/**
 * struct netmap_ctrl_req - a NIOCCTRL request, copied into the kernel
 * @hdr: the header
 * @body: the body, or NULL for requests without one
 * @body_size: its size
 * @nopts: options read
 * @opts: the options, in list order
 * @by_type: the option of each known type, if given
 */
struct netmap_ctrl_req {
	struct nmreq_header hdr;
	void *body;
	size_t body_size;
	unsigned int nopts;
	struct nm_opt opts[NM_MAX_OPTS];
	struct nm_opt *by_type[NETMAP_REQ_OPT_MAX + 1];
};

/* ---------------------------------------------------------------------- */
/* Requests (shared with the legacy API)                                   */
/* ---------------------------------------------------------------------- */

/**
 * netmap_req_port_info() - describe the port @name (no binding needed)
 * @name: the port name
 * @reg: the request (mode, wanted geometry); filled with the answer
 *
 * Return: 0 or the lookup's error.
 */
int netmap_req_port_info(const char *name, struct nmreq_register *reg)
{
	struct netmap_port *port;
	int err;

	mutex_lock(&netmap_lock);
	err = netmap_port_lookup(name, reg, &port);
	if (!err) {
		netmap_port_fill_info(port, reg);
		netmap_port_put(port);
	}
	mutex_unlock(&netmap_lock);
	return err;
}

/* The virtio-net header lengths netmap knows. */
static bool nm_hdr_len_ok(u32 len)
{
	return len == 0 || len == 10 || len == 12;
}

/**
 * netmap_req_hdr_set() - set the virtio-net header length of a port
 * @name: the port name
 * @len: 0, 10 or 12; ports without a hdr_set op accept only 0
 *
 * Return: 0, -EINVAL or the lookup's error.
 */
int netmap_req_hdr_set(const char *name, u32 len)
{
	struct netmap_port *port;
	int err;

	if (!nm_hdr_len_ok(len))
		return -EINVAL;
	mutex_lock(&netmap_lock);
	err = netmap_port_lookup(name, NULL, &port);
	if (!err) {
		if (port->ops->hdr_set)
			err = port->ops->hdr_set(port, len);
		else if (len)
			err = -EINVAL;
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

static int nm_ctrl_register(struct netmap_priv *priv,
			    struct netmap_ctrl_req *req)
{
	return netmap_register(priv, req->hdr.nr_name, req->body);
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

/* The region of the port named in the header, or the one of nr_mem_id. */
static int nm_ctrl_pools_info(struct netmap_priv *priv,
			      struct netmap_ctrl_req *req)
{
	struct nmreq_pools_info *info = req->body;
	struct netmap_port *port;
	struct netmap_mem *mem;
	int err;

	if (req->hdr.nr_name[0]) {
		mutex_lock(&netmap_lock);
		err = netmap_port_lookup(req->hdr.nr_name, NULL, &port);
		if (!err) {
			mem = port->mem;
			netmap_mem_get(mem);
			netmap_port_put(port);
		}
		mutex_unlock(&netmap_lock);
		if (err)
			return err;
	} else {
		mem = netmap_mem_find(info->nr_mem_id ?: NM_GLOBAL_MEM_ID);
		if (!mem)
			return -EINVAL;
	}
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

/* The name found goes back in the header (see nm_ctrl_type.hdr_out). */
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

/*
 * The option of @type if the request has one, now marked handled with
 * status 0 (the handler sets an errno there when the option is bad);
 * NULL otherwise.
 */
static struct nmreq_option *nm_opt_take(struct netmap_ctrl_req *req,
					u32 type)
{
	struct nm_opt *opt = req->by_type[type];

	if (!opt)
		return NULL;
	opt->handled = true;
	opt->kopt->nro_status = 0;
	return opt->kopt;
}

/* CSB mode and the sync kloop: csb.c and kloop.c. */
static int nm_ctrl_csb_enable(struct netmap_priv *priv,
			      struct netmap_ctrl_req *req)
{
	return netmap_csb_enable(priv, nm_opt_take(req, NETMAP_REQ_OPT_CSB));
}

/* Runs until the loop ends, with priv->lock dropped meanwhile. */
static int nm_ctrl_kloop_start(struct netmap_priv *priv,
			       struct netmap_ctrl_req *req)
{
	struct nmreq_option *efds, *mode;

	efds = nm_opt_take(req, NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS);
	mode = nm_opt_take(req, NETMAP_REQ_OPT_SYNC_KLOOP_MODE);
	return netmap_kloop_start(priv, req->body, efds, mode);
}

static int nm_ctrl_kloop_stop(struct netmap_priv *priv,
			      struct netmap_ctrl_req *req)
{
	return netmap_kloop_stop(priv, req->hdr.nr_name);
}

/**
 * struct nm_ctrl_type - how to handle one request type
 * @body_size: size of its body; 0 when it has none
 * @options: bit N set when the request handles option type N
 * @handle: the request
 * @finish: for requests with lasting effects: called after a successful
 *	@handle once the results were written back (error 0) or could not
 *	be (-EFAULT), to commit or undo
 * @hdr_out: the request answers in the header too (nr_name), which is
 *	then copied back with the body
 */
struct nm_ctrl_type {
	size_t body_size;
	u32 options;
	int (*handle)(struct netmap_priv *priv, struct netmap_ctrl_req *req);
	void (*finish)(struct netmap_priv *priv, int err);
	bool hdr_out;
};

static const struct nm_ctrl_type nm_ctrl_types[] = {
	[NETMAP_REQ_REGISTER] = {
		sizeof(struct nmreq_register), 0, nm_ctrl_register,
		netmap_register_finish },
	[NETMAP_REQ_PORT_INFO_GET] = {
		sizeof(struct nmreq_register), 0, nm_ctrl_port_info },
	[NETMAP_REQ_VALE_ATTACH] = {
		sizeof(struct nmreq_vale_attach), 0, nm_ctrl_vale_attach },
	[NETMAP_REQ_VALE_DETACH] = {
		sizeof(struct nmreq_vale_detach), 0, nm_ctrl_vale_detach },
	[NETMAP_REQ_VALE_LIST] = {
		sizeof(struct nmreq_vale_list), 0, nm_ctrl_vale_list,
		.hdr_out = true },
	[NETMAP_REQ_PORT_HDR_SET] = {
		sizeof(struct nmreq_port_hdr), 0, nm_ctrl_hdr_set },
	[NETMAP_REQ_PORT_HDR_GET] = {
		sizeof(struct nmreq_port_hdr), 0, nm_ctrl_hdr_get },
	[NETMAP_REQ_VALE_NEWIF] = {
		sizeof(struct nmreq_vale_newif), 0, nm_ctrl_vale_newif },
	[NETMAP_REQ_VALE_DELIF] = { 0, 0, nm_ctrl_vale_delif },
	[NETMAP_REQ_VALE_POLLING_ENABLE] = {
		sizeof(struct nmreq_vale_polling), 0, nm_ctrl_vale_poll_on },
	[NETMAP_REQ_VALE_POLLING_DISABLE] = { 0, 0, nm_ctrl_vale_poll_off },
	[NETMAP_REQ_POOLS_INFO_GET] = {
		sizeof(struct nmreq_pools_info), 0, nm_ctrl_pools_info },
	[NETMAP_REQ_SYNC_KLOOP_START] = {
		sizeof(struct nmreq_sync_kloop_start),
		BIT(NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS) |
		BIT(NETMAP_REQ_OPT_SYNC_KLOOP_MODE), nm_ctrl_kloop_start },
	[NETMAP_REQ_SYNC_KLOOP_STOP] = { 0, 0, nm_ctrl_kloop_stop },
	[NETMAP_REQ_CSB_ENABLE] = {
		0, BIT(NETMAP_REQ_OPT_CSB), nm_ctrl_csb_enable },
};

/* ---------------------------------------------------------------------- */
/* Options                                                                 */
/* ---------------------------------------------------------------------- */

static int nm_opts_read(struct netmap_ctrl_req *req)
{
	size_t budget = NETMAP_REQ_MAXSIZE - req->body_size;
	u64 next = req->hdr.nr_options;
	size_t total = 0;

	while (next) {
		struct nmreq_option __user *uaddr = u64_to_user_ptr(next);
		struct nmreq_option h, *kopt;
		struct nm_opt *opt;
		unsigned int k;

		for (k = 0; k < req->nopts; k++)
			if (req->opts[k].uaddr == uaddr)
				return -EINVAL;
		if (copy_from_user(&h, uaddr, sizeof(h)))
			return -EFAULT;
		if (h.nro_size < sizeof(h))
			return -EINVAL;
		if (h.nro_size > budget - total || req->nopts == NM_MAX_OPTS)
			return -EMSGSIZE;
		total += h.nro_size;
		if (h.nro_reqtype && h.nro_reqtype <= NETMAP_REQ_OPT_MAX &&
		    req->by_type[h.nro_reqtype])
			return -EINVAL;
		kopt = memdup_user(uaddr, h.nro_size);
		if (IS_ERR(kopt))
			return PTR_ERR(kopt);
		/* The header we checked, whatever userspace changed since. */
		*kopt = h;
		kopt->nro_status = EOPNOTSUPP;
		opt = &req->opts[req->nopts++];
		opt->uaddr = uaddr;
		opt->kopt = kopt;
		if (h.nro_reqtype && h.nro_reqtype <= NETMAP_REQ_OPT_MAX)
			req->by_type[h.nro_reqtype] = opt;
		next = h.nro_next;
	}
	return 0;
}

/* Every option must be one the request handles. */
static int nm_opts_check(const struct netmap_ctrl_req *req, u32 handled)
{
	unsigned int k;

	for (k = 0; k < req->nopts; k++) {
		u32 type = req->opts[k].kopt->nro_reqtype;

		if (type > NETMAP_REQ_OPT_MAX || !(handled & BIT(type)))
			return -EOPNOTSUPP;
	}
	return 0;
}

/* Statuses (and the bodies of handled options) back to userspace. */
static int nm_opts_write(struct netmap_ctrl_req *req)
{
	int err = 0;
	unsigned int k;

	for (k = 0; k < req->nopts; k++) {
		struct nm_opt *opt = &req->opts[k];
		int e;

		if (opt->handled)
			e = copy_to_user(opt->uaddr, opt->kopt,
					 opt->kopt->nro_size) ? -EFAULT : 0;
		else
			e = put_user(opt->kopt->nro_status,
				     &opt->uaddr->nro_status);
		if (e)
			err = e;
	}
	return err;
}

static void nm_ctrl_req_free(struct netmap_ctrl_req *req)
{
	unsigned int k;

	for (k = 0; k < req->nopts; k++)
		kfree(req->opts[k].kopt);
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
	const struct nm_ctrl_type *type;
	struct netmap_ctrl_req *req;
	bool handled;
	int err, werr;

	req = kzalloc(sizeof(*req), GFP_KERNEL);
	if (!req)
		return -ENOMEM;
	err = -EFAULT;
	if (copy_from_user(&req->hdr, arg, sizeof(req->hdr)))
		goto out;
	err = -EINVAL;
	if (req->hdr.nr_version < NETMAP_MIN_API ||
	    req->hdr.nr_version > NETMAP_MAX_API ||
	    req->hdr.nr_reserved ||
	    strnlen(req->hdr.nr_name, sizeof(req->hdr.nr_name)) ==
	    sizeof(req->hdr.nr_name))
		goto out;
	if (req->hdr.nr_reqtype >= ARRAY_SIZE(nm_ctrl_types) ||
	    !nm_ctrl_types[req->hdr.nr_reqtype].handle)
		goto out;
	type = &nm_ctrl_types[req->hdr.nr_reqtype];

	req->body_size = type->body_size;
	if (req->body_size) {
		if (!req->hdr.nr_body)
			goto out;
		req->body = memdup_user(u64_to_user_ptr(req->hdr.nr_body),
					req->body_size);
		if (IS_ERR(req->body)) {
			err = PTR_ERR(req->body);
			req->body = NULL;
			goto out;
		}
	}

	err = nm_opts_read(req);
	if (!err)
		err = nm_opts_check(req, type->options);
	handled = false;
	if (!err) {
		err = type->handle(priv, req);
		handled = !err;
	}
	if (!err && req->body &&
	    copy_to_user(u64_to_user_ptr(req->hdr.nr_body), req->body,
			 req->body_size))
		err = -EFAULT;
	if (!err && type->hdr_out &&
	    copy_to_user(arg, &req->hdr, sizeof(req->hdr)))
		err = -EFAULT;
	werr = nm_opts_write(req);
	if (!err)
		err = werr;
	if (handled && type->finish)
		type->finish(priv, err);
out:
	nm_ctrl_req_free(req);
	return err;
}
