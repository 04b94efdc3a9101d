// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * netmap pipes.
 *
 * "X{N" is the master end of pipe N of port X and "X}N" its slave end.
 * The master's tx ring i feeds the slave's rx ring i and the slave's tx
 * ring i feeds the master's rx ring i; paired rings have the same number of
 * slots. The geometry comes from the request that creates the pipe.
 *
 * Packets move without a copy: the sender's txsync swaps each slot it
 * sends with the next free slot of the receiver's rx ring, so the buffer
 * travels and the sender gets back a buffer the receiver released. Both
 * slots are marked NS_BUF_CHANGED. A tx slot counts as free again only
 * once the receiver has released the rx slot its packet went to, so the
 * sender sees the receiver's backlog as a full tx ring, and its tail is
 *
 *	tx.hwtail = tx.hwcur - 1 - (slots delivered and not yet released)
 *
 * The pipe ends share the memory region of X. When X does not exist, an
 * ephemeral parent port named X is made with a private region; it lives
 * while any of its pipes does. (A later issue turns it into a VALE port.)
 *
 * Lifetime, all under netmap_lock: a pipe exists while one of its ends is
 * referenced (looked up or bound); its rings have memory while one of its
 * ends is bound. Each pipe holds a reference to its parent.
 *
 * Syncs: a tx ring and the rx ring it feeds are synced under their own
 * locks, possibly at the same time. Each shared value has one writer:
 *   rx->peer_tail  written by the sender, read by the receiver's rxsync;
 *   rx->nr_hwcur   written by the receiver, read by the sender's txsync;
 * both are published with smp_store_release() and read with
 * smp_load_acquire(), which also orders the slot contents around them.
 * The slots in between are owned by exactly one side at a time.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ctype.h>
#include <linux/errno.h>
#include <linux/if.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "netmap_kern.h"

enum { NM_PIPE_MASTER = 0, NM_PIPE_SLAVE = 1 };

struct netmap_pipe;

struct netmap_pipe_end {
	struct netmap_port port;
	struct netmap_pipe *pipe;
};

/**
 * struct netmap_pipe - a pipe and its two ends
 * @node: entry in the parent's list of pipes
 * @parent: the port whose region the pipe uses (one reference)
 * @id: the N of "X{N"
 * @live: ends with references
 * @active: ends with bindings; the rings have memory while non-zero
 * @end: master and slave
 */
struct netmap_pipe {
	struct list_head node;
	struct netmap_port *parent;
	u32 id;
	unsigned int live;
	unsigned int active;
	struct netmap_pipe_end end[2];
};

static struct netmap_pipe_end *nm_pipe_end(struct netmap_port *port)
{
	return container_of(port, struct netmap_pipe_end, port);
}

/* ---------------------------------------------------------------------- */
/* Syncs                                                                   */
/* ---------------------------------------------------------------------- */

/*
 * Both rings are mapped into userspace, which may rewrite any slot at any
 * time: the slots were checked by the sync prologue, but what is moved is
 * read here once more, so it is read once, into a local copy, and checked
 * again. A tx slot gone bad in between fails the sync (-EINVAL, the ring
 * is reset); a bad buffer in a released rx slot is not handed to the
 * sender, which gets the reserved buffer 0 instead (and cannot send it).
 */
static bool nm_pipe_slot_read(const struct netmap_kring *txk,
			      const struct netmap_slot *from,
			      struct netmap_slot *to)
{
	to->buf_idx = READ_ONCE(from->buf_idx);
	to->len = READ_ONCE(from->len);
	to->flags = READ_ONCE(from->flags);
	to->ptr = READ_ONCE(from->ptr);
	return to->buf_idx >= NM_RESERVED_BUFS && to->buf_idx < txk->nbufs &&
	       to->len <= txk->buf_size;
}

static int nm_pipe_txsync(struct netmap_kring *txk)
{
	struct netmap_kring *rxk = txk->peer;
	struct netmap_slot *ts = nm_ring_slots(txk->ring);
	struct netmap_slot *rs = nm_ring_slots(rxk->ring);
	u32 n = txk->num_slots;
	u32 t = txk->nr_hwcur;
	u32 r = rxk->peer_tail;			/* we are its only writer */
	u32 busy = nm_dist(smp_load_acquire(&rxk->nr_hwcur), r, n);
	u32 m = min(nm_dist(t, txk->rhead, n), n - 1 - busy);
	struct netmap_slot slot;
	int err = 0;
	u32 k;

	for (k = 0; k < m; k++) {
		u32 idx = READ_ONCE(rs[r].buf_idx);

		if (unlikely(!nm_pipe_slot_read(txk, &ts[t], &slot))) {
			err = -EINVAL;
			break;
		}
		if (unlikely(idx < NM_RESERVED_BUFS || idx >= rxk->nbufs))
			idx = 0;
		slot.flags |= NS_BUF_CHANGED;
		rs[r] = slot;
		ts[t].buf_idx = idx;
		ts[t].flags = NS_BUF_CHANGED;
		t = nm_next(t, n);
		r = nm_next(r, n);
	}
	if (k) {
		txk->nr_hwcur = t;
		netmap_monitor_landed(rxk, rxk->peer_tail, r);
		smp_store_release(&rxk->peer_tail, r);
		netmap_kring_wake(rxk);
	}
	txk->nr_hwtail = nm_back(t, 1 + busy + k, n);
	return err;
}

static int nm_pipe_rxsync(struct netmap_kring *rxk)
{
	if (rxk->rhead != rxk->nr_hwcur) {
		smp_store_release(&rxk->nr_hwcur, rxk->rhead);
		netmap_kring_wake(rxk->peer);
	}
	rxk->nr_hwtail = smp_load_acquire(&rxk->peer_tail);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Ends: activation and references                                         */
/* ---------------------------------------------------------------------- */

static int nm_pipe_activate(struct netmap_port *port)
{
	struct netmap_pipe *pipe = nm_pipe_end(port)->pipe;
	struct netmap_port *m = &pipe->end[NM_PIPE_MASTER].port;
	struct netmap_port *s = &pipe->end[NM_PIPE_SLAVE].port;
	int err;

	if (pipe->active++)
		return 0;
	err = netmap_port_rings_create(m);
	if (!err) {
		err = netmap_port_rings_create(s);
		if (err)
			netmap_port_rings_delete(m);
	}
	if (err)
		pipe->active--;
	return err;
}

static void nm_pipe_deactivate(struct netmap_port *port)
{
	struct netmap_pipe *pipe = nm_pipe_end(port)->pipe;

	if (--pipe->active)
		return;
	netmap_port_rings_delete(&pipe->end[NM_PIPE_MASTER].port);
	netmap_port_rings_delete(&pipe->end[NM_PIPE_SLAVE].port);
}

static void nm_pipe_free(struct netmap_pipe *pipe)
{
	int i;

	for (i = 0; i < 2; i++) {
		netmap_port_krings_free(&pipe->end[i].port);
		netmap_port_fini(&pipe->end[i].port);
	}
	kfree(pipe);
}

/* An end lost its last reference; the pipe goes with the second one. */
static void nm_pipe_end_dtor(struct netmap_port *port)
{
	struct netmap_pipe *pipe = nm_pipe_end(port)->pipe;
	struct netmap_port *parent = pipe->parent;

	if (--pipe->live)
		return;
	list_del(&pipe->node);
	nm_pipe_free(pipe);
	netmap_port_put(parent);
}

static const struct netmap_port_ops nm_pipe_ops = {
	.activate = nm_pipe_activate,
	.deactivate = nm_pipe_deactivate,
	.txsync = nm_pipe_txsync,
	.rxsync = nm_pipe_rxsync,
	.dtor = nm_pipe_end_dtor,
	.irqsafe_sync = true,
};

static struct netmap_port *nm_pipe_end_get(struct netmap_pipe *pipe,
					   int which)
{
	struct netmap_port *port = &pipe->end[which].port;

	if (!port->refs++)
		pipe->live++;
	return port;
}

/* ---------------------------------------------------------------------- */
/* Creation                                                                */
/* ---------------------------------------------------------------------- */

/* Pair master tx i with slave rx i, and slave tx i with master rx i. */
static void nm_pipe_link(struct netmap_pipe *pipe)
{
	struct netmap_port *m = &pipe->end[NM_PIPE_MASTER].port;
	struct netmap_port *s = &pipe->end[NM_PIPE_SLAVE].port;
	u32 i;

	for (i = 0; i < m->nrings[NM_TX]; i++) {
		m->krings[NM_TX][i].peer = &s->krings[NM_RX][i];
		s->krings[NM_RX][i].peer = &m->krings[NM_TX][i];
	}
	for (i = 0; i < s->nrings[NM_TX]; i++) {
		s->krings[NM_TX][i].peer = &m->krings[NM_RX][i];
		m->krings[NM_RX][i].peer = &s->krings[NM_TX][i];
	}
}

/*
 * A new pipe of @parent, with the geometry @reg asks for, seen from the
 * end @which: its tx rings and slots are @reg's tx ones. Takes over the
 * caller's reference to @parent on success.
 */
static struct netmap_pipe *nm_pipe_new(struct netmap_port *parent, u32 id,
				       int which,
				       const struct nmreq_register *reg)
{
	u32 max_slots = netmap_mem_max_slots(parent->mem);
	struct netmap_pipe *pipe;
	u32 rings[NM_NDIR], slots[NM_NDIR];
	int i, err = 0;

	rings[NM_TX] = netmap_bound_value(reg ? reg->nr_tx_rings : 0, 1, 1,
					  NM_MAX_RINGS);
	rings[NM_RX] = netmap_bound_value(reg ? reg->nr_rx_rings : 0, 1, 1,
					  NM_MAX_RINGS);
	slots[NM_TX] = netmap_bound_value(reg ? reg->nr_tx_slots : 0,
					  NM_DEFAULT_SLOTS, NM_MIN_SLOTS,
					  max_slots);
	slots[NM_RX] = netmap_bound_value(reg ? reg->nr_rx_slots : 0,
					  NM_DEFAULT_SLOTS, NM_MIN_SLOTS,
					  max_slots);

	pipe = kzalloc(sizeof(*pipe), GFP_KERNEL);
	if (!pipe)
		return ERR_PTR(-ENOMEM);
	pipe->id = id;
	for (i = 0; i < 2; i++) {
		struct netmap_port *port = &pipe->end[i].port;
		bool same = i == which;

		netmap_port_init(port, &nm_pipe_ops);
		port->refs = 0;
		pipe->end[i].pipe = pipe;
		scnprintf(port->name, sizeof(port->name), "%s%c%u",
			  parent->name, i == NM_PIPE_MASTER ? '{' : '}', id);
		port->mem = parent->mem;
		port->nrings[NM_TX] = same ? rings[NM_TX] : rings[NM_RX];
		port->nrings[NM_RX] = same ? rings[NM_RX] : rings[NM_TX];
		port->nslots[NM_TX] = same ? slots[NM_TX] : slots[NM_RX];
		port->nslots[NM_RX] = same ? slots[NM_RX] : slots[NM_TX];
		/* Reported, as netmap does for pipes; never bound. */
		port->nhost[NM_TX] = 1;
		port->nhost[NM_RX] = 1;
		if (!err)
			err = netmap_port_krings_alloc(port);
	}
	if (err) {
		nm_pipe_free(pipe);
		return ERR_PTR(err);
	}
	nm_pipe_link(pipe);
	pipe->parent = parent;
	list_add_tail(&pipe->node, &parent->pipes);
	return pipe;
}

/* ---------------------------------------------------------------------- */
/* The ephemeral parent                                                    */
/* ---------------------------------------------------------------------- */

static void nm_parent_dtor(struct netmap_port *port)
{
	netmap_port_unregister(port);
	netmap_mem_put(port->mem);
	netmap_port_fini(port);
	kfree(port);
}

/* A port without rings of its own, holding a region for its pipes. */
static const struct netmap_port_ops nm_parent_ops = {
	.dtor = nm_parent_dtor,
};

static int nm_pipe_parent_get(const char *name,
			      const struct nmreq_register *reg,
			      struct netmap_port **parentp)
{
	u16 mem_id = reg ? reg->nr_mem_id : 0;
	struct netmap_port *parent;
	struct netmap_mem *mem;

	parent = netmap_port_find(name);
	if (parent && parent->pt_nifp) {	/* a ptnet guest port */
		netmap_port_put(parent);
		return -EOPNOTSUPP;
	}
	if (parent && netmap_port_admin(parent)) {	/* a persistent port */
		netmap_port_put(parent);
		return -EPERM;
	}
	if (parent) {
		if (mem_id && mem_id != parent->mem->id) {
			netmap_port_put(parent);
			return -EINVAL;
		}
		*parentp = parent;
		return 0;
	}
	if (mem_id) {
		mem = netmap_mem_find(mem_id);
		if (!mem)
			return -EINVAL;
	} else {
		mem = netmap_mem_new_port();
		if (IS_ERR(mem))
			return PTR_ERR(mem);
	}
	parent = kzalloc(sizeof(*parent), GFP_KERNEL);
	if (!parent) {
		netmap_mem_put(mem);
		return -ENOMEM;
	}
	netmap_port_init(parent, &nm_parent_ops);
	strscpy(parent->name, name, sizeof(parent->name));
	parent->mem = mem;
	netmap_port_register(parent);
	*parentp = parent;
	return 0;
}

/*
 * A VALE port as the parent ("valeS:P{N"): the port itself, created if
 * needed (vale.c); the pipe's reference keeps it.
 */
static int nm_pipe_vale_parent_get(const char *name,
				   const struct nmreq_register *reg,
				   struct netmap_port **parentp)
{
	u16 mem_id = reg ? reg->nr_mem_id : 0;
	int err;

	err = netmap_vale_lookup(name, NULL, parentp);
	if (!err && mem_id && mem_id != (*parentp)->mem->id) {
		netmap_port_put(*parentp);
		err = -EINVAL;
	}
	return err;
}

/* ---------------------------------------------------------------------- */
/* Lookup                                                                  */
/* ---------------------------------------------------------------------- */

/* The N of "X{N": decimal digits only, fitting 32 bits. */
static int nm_pipe_parse_id(const char *s, u32 *id)
{
	u64 v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (!isdigit(*s))
			return -EINVAL;
		v = v * 10 + (*s - '0');
		if (v > U32_MAX)
			return -EINVAL;
	}
	*id = v;
	return 0;
}

/**
 * netmap_pipe_lookup() - resolve "X{N" or "X}N" to a pipe end
 * @name: a name holding '{' or '}'
 * @reg: the request (its geometry is used if the pipe is new), or NULL
 * @portp: the end, with a reference, on success
 *
 * Creates the pipe, and the parent X, when they do not exist.
 * netmap_lock held.
 *
 * Return: 0, -EINVAL for a malformed name, -ENOMEM, or the error of the
 * VALE lookup of a parent "valeS:P".
 */
int netmap_pipe_lookup(const char *name, const struct nmreq_register *reg,
		       struct netmap_port **portp)
{
	const char *brace = strpbrk(name, "{}");
	int which = *brace == '}' ? NM_PIPE_SLAVE : NM_PIPE_MASTER;
	size_t plen = brace - name;
	struct netmap_port *parent;
	struct netmap_pipe *pipe;
	char pname[IFNAMSIZ];
	u32 id;
	int err;

	lockdep_assert_held(&netmap_lock);
	if (plen == 0 || plen >= IFNAMSIZ)
		return -EINVAL;
	memcpy(pname, name, plen);
	pname[plen] = '\0';
	err = nm_pipe_parse_id(brace + 1, &id);
	if (err)
		return err;
	if (netmap_is_vale_name(pname))
		err = nm_pipe_vale_parent_get(pname, reg, &parent);
	else if (!netmap_port_name_ok(pname))
		return -EINVAL;
	else
		err = nm_pipe_parent_get(pname, reg, &parent);
	if (err)
		return err;
	list_for_each_entry(pipe, &parent->pipes, node) {
		if (pipe->id == id) {
			*portp = nm_pipe_end_get(pipe, which);
			netmap_port_put(parent);	/* the pipe holds one */
			return 0;
		}
	}
	pipe = nm_pipe_new(parent, id, which, reg);
	if (IS_ERR(pipe)) {
		netmap_port_put(parent);
		return PTR_ERR(pipe);
	}
	*portp = nm_pipe_end_get(pipe, which);
	return 0;
}
