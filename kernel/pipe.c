// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * netmap pipes.
 *
 * "X{ID" is the master end of pipe ID of port X and "X}ID" its slave end.
 * The last '{' of the name, else its last '}', ends X; the pipe id is the
 * rest, any non-empty string. X, the parent, is any port name a lookup
 * resolves (a NIC, a VALE port, a persistent VALE port, a pipe end); a
 * parent that does not exist is made an auto-delete VALE port (vale.c).
 * The parent is only referenced, never bound: a NIC parent stays with the
 * host stack. Its pipes are its own (parent->pipes, at most NM_PIPE_MAX),
 * so "eth0{1" never takes the name "eth0" from the NIC.
 *
 * The master's tx ring i feeds the slave's rx ring i and the slave's tx
 * ring i feeds the master's rx ring i; paired rings have the same number of
 * slots. The geometry comes from the request that creates the pipe: 1 ring
 * per direction by default, up to NM_PIPE_MAX_RINGS, and the parent's slot
 * counts by default, up to NM_PIPE_MAX_SLOTS.
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
 * The pipe ends use the memory region of the parent: the global region of
 * a NIC, the private region of a VALE port.
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

#include <linux/errno.h>
#include <linux/if.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "netmap_kern.h"

enum { NM_PIPE_MASTER = 0, NM_PIPE_SLAVE = 1 };

#define NM_PIPE_MAX		64	/* pipes of one parent */
#define NM_PIPE_MAX_RINGS	256	/* rings per direction of an end */
#define NM_PIPE_MAX_SLOTS	4096	/* slots per ring */
#define NM_PIPE_MAX_NEST	4	/* pipes of pipe ends of ... */

struct netmap_pipe;

struct netmap_pipe_end {
	struct netmap_port port;
	struct netmap_pipe *pipe;
};

/**
 * struct netmap_pipe - a pipe and its two ends
 * @node: entry in the parent's list of pipes
 * @parent: the port whose region the pipe uses (one reference)
 * @id: the ID of "X{ID"
 * @live: ends with references
 * @active: ends with bindings; the rings have memory while non-zero
 * @end: master and slave
 */
struct netmap_pipe {
	struct list_head node;
	struct netmap_port *parent;
	char id[NETMAP_REQ_IFNAMSIZ];
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
	       nm_slot_fits(txk, to->ptr, to->len);
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
static struct netmap_pipe *nm_pipe_new(struct netmap_port *parent,
				       const char *id, int which,
				       const struct nmreq_register *reg)
{
	u32 max_slots = min_t(u32, NM_PIPE_MAX_SLOTS,
			      netmap_mem_max_slots(parent->mem));
	struct netmap_pipe *pipe;
	u32 rings[NM_NDIR], slots[NM_NDIR];
	int i, err = 0;

	rings[NM_TX] = netmap_bound_value(reg->nr_tx_rings, 1, 1,
					  NM_PIPE_MAX_RINGS);
	rings[NM_RX] = netmap_bound_value(reg->nr_rx_rings, 1, 1,
					  NM_PIPE_MAX_RINGS);
	slots[NM_TX] = netmap_bound_value(reg->nr_tx_slots,
					  parent->nslots[NM_TX], NM_MIN_SLOTS,
					  max_slots);
	slots[NM_RX] = netmap_bound_value(reg->nr_rx_slots,
					  parent->nslots[NM_RX], NM_MIN_SLOTS,
					  max_slots);

	pipe = kzalloc(sizeof(*pipe), GFP_KERNEL);
	if (!pipe)
		return ERR_PTR(-ENOMEM);
	strscpy(pipe->id, id, sizeof(pipe->id));
	for (i = 0; i < 2; i++) {
		struct netmap_port *port = &pipe->end[i].port;
		bool same = i == which;

		netmap_port_init(port, &nm_pipe_ops);
		port->refs = 0;
		pipe->end[i].pipe = pipe;
		scnprintf(port->name, sizeof(port->name), "%s%c%s",
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
/* Lookup                                                                  */
/* ---------------------------------------------------------------------- */

/*
 * Whether a parent that does not exist may be made an auto-delete VALE
 * port: a plain interface name, not one VALE names take, nor one that
 * starts with "vale".
 */
static bool nm_pipe_autoparent_ok(const char *pname)
{
	return netmap_port_name_ok(pname) && !netmap_is_vale_name(pname) &&
	       strncmp(pname, NM_BDG_NAME, strlen(NM_BDG_NAME));
}

/*
 * The parent @pname of a pipe, resolved as any port name is (it may be a
 * pipe end itself, up to NM_PIPE_MAX_NEST deep), with the pipe's request.
 * It is only referenced, never bound. One that does not exist becomes an
 * auto-delete VALE port when @reg may create (netmap_vale_autoif()).
 */
static int nm_pipe_parent_get(const char *pname,
			      const struct nmreq_register *reg,
			      struct netmap_port **parentp)
{
	static unsigned int depth;	/* netmap_lock */
	struct netmap_port *parent;
	int err;

	/* A name no netdev can have: no such device, and none is made. */
	if (!strpbrk(pname, "{}") && !netmap_is_vale_name(pname) &&
	    strnlen(pname, IFNAMSIZ) >= IFNAMSIZ)
		return -ENXIO;
	if (depth >= NM_PIPE_MAX_NEST)
		return -EINVAL;
	depth++;
	err = netmap_port_lookup(pname, reg, &parent);
	depth--;
	if (err == -ENXIO && nm_pipe_autoparent_ok(pname))
		/* Without creating, a pipe of a new parent does not exist. */
		err = reg ? netmap_vale_autoif(pname, reg, &parent) : -ENODEV;
	if (err)
		return err;
	if (parent->pt_nifp)			/* a ptnet guest port */
		err = -EOPNOTSUPP;
	else if (netmap_vale_owns(parent))	/* bound by a switch */
		err = -EBUSY;
	else if (reg && reg->nr_mem_id && reg->nr_mem_id != parent->mem->id)
		err = -EINVAL;
	if (err) {
		netmap_port_put(parent);
		return err;
	}
	*parentp = parent;
	return 0;
}

/**
 * netmap_pipe_lookup() - resolve "X{ID" or "X}ID" to a pipe end
 * @name: a name holding '{' or '}'
 * @reg: the request: it may create the pipe (and the parent X), whose
 *	geometry it gives; NULL for requests that only look
 * @portp: the end, with a reference, on success
 *
 * The last '{' of @name, else its last '}', ends the parent's name and
 * starts the pipe id: any non-empty string, compared as such. So
 * "a{1}2" is the master end of pipe "1}2" of "a". netmap_lock held.
 *
 * Return: 0; -EINVAL for an empty parent or id, a parent with
 * NM_PIPE_MAX pipes already, or a nr_mem_id other than the parent's;
 * -ENODEV for a pipe that does not exist when @reg is NULL; -EBUSY for a
 * parent a VALE switch binds; -EOPNOTSUPP for a ptnet guest parent;
 * -ENOMEM; or the error of the parent's lookup.
 */
int netmap_pipe_lookup(const char *name, const struct nmreq_register *reg,
		       struct netmap_port **portp)
{
	const char *brace = strrchr(name, '{') ?: strrchr(name, '}');
	int which = *brace == '{' ? NM_PIPE_MASTER : NM_PIPE_SLAVE;
	size_t plen = brace - name;
	struct netmap_port *parent;
	struct netmap_pipe *pipe;
	char pname[NETMAP_REQ_IFNAMSIZ];
	const char *id = brace + 1;
	unsigned int n = 0;
	int err;

	lockdep_assert_held(&netmap_lock);
	if (!plen || !*id || plen >= sizeof(pname) ||
	    strlen(id) >= sizeof(pipe->id))
		return -EINVAL;
	memcpy(pname, name, plen);
	pname[plen] = '\0';
	err = nm_pipe_parent_get(pname, reg, &parent);
	if (err)
		return err;
	list_for_each_entry(pipe, &parent->pipes, node) {
		if (!strcmp(pipe->id, id)) {
			*portp = nm_pipe_end_get(pipe, which);
			netmap_port_put(parent);	/* the pipe holds one */
			return 0;
		}
		n++;
	}
	if (!reg || n >= NM_PIPE_MAX) {
		netmap_port_put(parent);
		return reg ? -EINVAL : -ENODEV;
	}
	pipe = nm_pipe_new(parent, id, which, reg);
	if (IS_ERR(pipe)) {
		netmap_port_put(parent);
		return PTR_ERR(pipe);
	}
	*portp = nm_pipe_end_get(pipe, which);
	return 0;
}
