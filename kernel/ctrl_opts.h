/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The option list of a NIOCCTRL request, as ctrl_opts.c copies it in and
 * writes it back, and as ctrl.c hands the options to the requests.
 */
#ifndef NETMAP_CTRL_OPTS_H
#define NETMAP_CTRL_OPTS_H

#include "netmap_kern.h"

/*
 * The copy budget of a request (rule B of abi-corrections.md §5.3): the
 * body plus, per option, its header, 8 bytes of bookkeeping and its body
 * must stay within NM_OPTS_COPY_MAX bytes. It also bounds the list length.
 */
#define NM_OPTS_COPY_MAX	4144
#define NM_OPT_COPY_COST	(sizeof(struct nmreq_option) + 8)
#define NM_MAX_OPTS		(NM_OPTS_COPY_MAX / NM_OPT_COPY_COST)

/**
 * struct nm_opt - one option of the list, copied in
 * @uaddr: where it lives in userspace
 * @kopt: its header (nro_next as userspace wrote it) and @body_len bytes
 *	of body
 * @body_len: body bytes copied in (0 for unknown types)
 */
struct nm_opt {
	struct nmreq_option __user *uaddr;
	struct nmreq_option *kopt;
	size_t body_len;
};

/**
 * struct nm_opts - the option list of a request
 * @n: options copied in, in list order
 * @quiet: nothing may be written back (the list overflowed the copy
 *	budget, and may loop)
 * @opt: the options
 * @by_type: the option of each known type, if given
 */
struct nm_opts {
	unsigned int n;
	bool quiet;
	struct nm_opt opt[NM_MAX_OPTS];
	struct nm_opt *by_type[NETMAP_REQ_OPT_MAX + 1];
};

int nm_opts_read(struct nm_opts *o, u64 first, size_t body_size);
void nm_opts_set_unsupported(struct nm_opts *o);
struct nmreq_option *nm_opts_take(struct nm_opts *o, u32 type);
bool nm_opts_any_unsupported(const struct nm_opts *o);
int nm_opts_write(struct nm_opts *o, bool success);
void nm_opts_free(struct nm_opts *o);

#endif /* NETMAP_CTRL_OPTS_H */
