// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The option list of a NIOCCTRL request: copied in by following nro_next,
 * handed to the request, and written back.
 *
 * Copy-in, option by option (abi-corrections.md §5.2 and §5.3). The
 * header is copied and its nro_status set to 0; then:
 *
 *   type 0                          status EINVAL; the walk stops: -EINVAL
 *   type above NETMAP_REQ_OPT_MAX   header only, nro_size ignored
 *   a known type seen before        both statuses EINVAL; stops: -EINVAL
 *   a known type                    its body is copied: the type's fixed
 *                                   size (nro_size is ignored), or for
 *                                   SYNC_KLOOP_EVENTFDS nro_size - 24
 *
 * Two budgets give -EMSGSIZE. Rule A, checked at a known option: the
 * request body plus every option so far, at 24 bytes of header plus its
 * body, exceeds NETMAP_REQ_MAXSIZE. Rule B, checked before each header
 * and each body is copied: the same sum at NM_OPT_COPY_COST bytes per
 * header exceeds NM_OPTS_COPY_MAX; this one also stops a list that loops
 * through unknown types. A known option with nro_size above
 * NETMAP_REQ_MAXSIZE is -EMSGSIZE too. A list that loops through a known
 * type ends as a duplicate.
 *
 * Once the list is in, every status becomes EOPNOTSUPP and the request
 * takes the options it acts on (status 0, or the errno it sets).
 *
 * Write-back: every header copied in goes back (nro_next as userspace
 * wrote it, the status), whatever the outcome, except after the rule-B
 * stop at a header; the body of an option goes back too when the request
 * succeeded and the option's status is 0.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "ctrl_opts.h"

#define NM_OPT_HDR	sizeof(struct nmreq_option)

/* Body bytes of a known option type; @size is nro_size, at most 4096. */
static size_t nm_opt_body_len(u32 type, u64 size)
{
	switch (type) {
	case NETMAP_REQ_OPT_EXTMEM:
		return sizeof(struct nmreq_opt_extmem) - NM_OPT_HDR;
	case NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS:
		return size > NM_OPT_HDR ? size - NM_OPT_HDR : 0;
	case NETMAP_REQ_OPT_CSB:
		return sizeof(struct nmreq_opt_csb) - NM_OPT_HDR;
	case NETMAP_REQ_OPT_SYNC_KLOOP_MODE:
		return sizeof(struct nmreq_opt_sync_kloop_mode) - NM_OPT_HDR;
	default:	/* NETMAP_REQ_OPT_OFFSETS */
		return sizeof(struct nmreq_opt_offsets) - NM_OPT_HDR;
	}
}

static bool nm_opt_type_known(u32 type)
{
	return type >= 1 && type <= NETMAP_REQ_OPT_MAX;
}

/**
 * nm_opts_read() - copy in the option list
 * @o: zeroed; filled with what was copied, also on failure
 * @first: the user pointer nr_options
 * @body_size: the size of the request's body
 *
 * Return: 0, -EINVAL, -EMSGSIZE, -EFAULT or -ENOMEM.
 */
int nm_opts_read(struct nm_opts *o, u64 first, size_t body_size)
{
	size_t rule_a = body_size, rule_b = body_size;
	u64 next = first;

	while (next) {
		struct nmreq_option __user *uaddr = u64_to_user_ptr(next);
		struct nmreq_option h, *kopt;
		struct nm_opt *opt;
		size_t len = 0;
		u32 type;

		if (rule_b + NM_OPT_COPY_COST > NM_OPTS_COPY_MAX ||
		    o->n == NM_MAX_OPTS) {
			o->quiet = true;
			return -EMSGSIZE;
		}
		if (copy_from_user(&h, uaddr, sizeof(h)))
			return -EFAULT;
		type = h.nro_reqtype;
		if (nm_opt_type_known(type) && !o->by_type[type] &&
		    h.nro_size <= NETMAP_REQ_MAXSIZE)
			len = nm_opt_body_len(type, h.nro_size);
		kopt = kmalloc(sizeof(h) + len, GFP_KERNEL);
		if (!kopt)
			return -ENOMEM;
		*kopt = h;
		kopt->nro_status = 0;
		opt = &o->opt[o->n++];
		opt->uaddr = uaddr;
		opt->kopt = kopt;
		rule_a += NM_OPT_HDR;
		rule_b += NM_OPT_COPY_COST;
		next = h.nro_next;

		if (!type) {
			kopt->nro_status = EINVAL;
			return -EINVAL;
		}
		if (!nm_opt_type_known(type))
			continue;
		if (o->by_type[type]) {
			o->by_type[type]->kopt->nro_status = EINVAL;
			kopt->nro_status = EINVAL;
			return -EINVAL;
		}
		o->by_type[type] = opt;
		if (h.nro_size > NETMAP_REQ_MAXSIZE)
			return -EMSGSIZE;
		rule_a += len;
		if (rule_a > NETMAP_REQ_MAXSIZE ||
		    rule_b + len > NM_OPTS_COPY_MAX)
			return -EMSGSIZE;
		rule_b += len;
		if (copy_from_user(kopt + 1, uaddr + 1, len))
			return -EFAULT;
		opt->body_len = len;
	}
	return 0;
}

/* The list is in: nothing acted on any option yet. */
void nm_opts_set_unsupported(struct nm_opts *o)
{
	unsigned int k;

	for (k = 0; k < o->n; k++)
		o->opt[k].kopt->nro_status = EOPNOTSUPP;
}

/**
 * nm_opts_take() - the option of @type, for the request that acts on it
 * @o: the list
 * @type: a known option type
 *
 * Return: the option (header and body), its status now 0 (the request
 * sets an errno there when the option is at fault); NULL when not given.
 */
struct nmreq_option *nm_opts_take(struct nm_opts *o, u32 type)
{
	struct nm_opt *opt = o->by_type[type];

	if (!opt)
		return NULL;
	opt->kopt->nro_status = 0;
	return opt->kopt;
}

/* Whether an option was left that the request did not act on. */
bool nm_opts_any_unsupported(const struct nm_opts *o)
{
	unsigned int k;

	for (k = 0; k < o->n; k++)
		if (o->opt[k].kopt->nro_status == EOPNOTSUPP)
			return true;
	return false;
}

/**
 * nm_opts_write() - write the options back to userspace
 * @o: the list
 * @success: the request succeeded: bodies of options with status 0 go
 *	back too
 *
 * Return: 0 or -EFAULT when some option could not be written.
 */
int nm_opts_write(struct nm_opts *o, bool success)
{
	unsigned int k;
	int err = 0;

	if (o->quiet)
		return 0;
	for (k = 0; k < o->n; k++) {
		struct nm_opt *opt = &o->opt[k];
		size_t len = NM_OPT_HDR;

		if (success && !opt->kopt->nro_status)
			len += opt->body_len;
		if (copy_to_user(opt->uaddr, opt->kopt, len))
			err = -EFAULT;
	}
	return err;
}

void nm_opts_free(struct nm_opts *o)
{
	unsigned int k;

	for (k = 0; k < o->n; k++)
		kfree(o->opt[k].kopt);
	o->n = 0;
}
