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
 * Slot positions are locked together, and a packet moves with its buffer,
 * never copied. Paired rings T (a tx ring) and R (the rx ring it feeds)
 * have the same number of slots and share one set of buffers: T owns them
 * (R borrows, ring.c), and slot k of the pair is either on the sending
 * side, held in T's slot k, or on the receiving side, held in R's slot k:
 *
 *   1. The sender's txsync copies each slot it sends, T[k] whole (buf_idx,
 *	len, flags, ptr), into R[k]. NS_BUF_CHANGED is cleared in both.
 *	Only whole packets go: the slots of a NS_MOREFRAG chain whose last
 *	fragment is not yet handed over stay in T, unsent, for the next
 *	txsync. T's hwcur and R's peer_tail (R's next tail) both move to the
 *	end of the last whole packet: they are always equal.
 *   2. The receiver's rxsync reports the slots up to peer_tail (R's tail).
 *   3. When the receiver releases R[k] (its head passes k), its rxsync
 *	copies R[k] whole back into T[k], NS_BUF_CHANGED as the receiver
 *	left it: the sender gets its own buffer back at the same slot, or
 *	the one the receiver swapped in (zero-copy forwarding).
 *   4. The sender's next txsync sees the released slots as free:
 *
 *	T.hwtail = R.hwcur - 1
 *
 *	so the receiver's backlog shows as a full tx ring, and the sender
 *	waits (poll) until the receiver releases slots.
 *
 * Userspace may rewrite any slot at any time. A tx slot with a buffer
 * index outside [2, pool size) or an offset and length past the end of
 * its buffer, or a released rx slot with a bad buffer index, makes the
 * sync prologue (ring.c) refuse the whole sync with -EINVAL: nothing
 * moves, head and cur go back to the last valid head, and a bad index is
 * parked on the reserved buffer 0 until userspace puts a real one back.
 * Each slot moved is then read once more, into a local copy, and checked
 * again before anything is written to the other ring: a slot rewritten
 * in between stops the copy there (the whole packets before it go) and
 * the sync fails with -EINVAL. So a bad index never reaches the other
 * end. A released slot's length and flags go back as they are: they are
 * checked when the sender sends the slot again.
 *
 * When the rings are deleted (no end bound), the buffers of the slots in
 * flight, R[k] for k in [R.hwcur, R.peer_tail), are moved into T[k] first,
 * and T's slots are freed: each buffer once, whichever end was open. The
 * frees skip any index that is not an allocated buffer (one userspace
 * wrote there, or one it put in two slots).
 *
 * The pipe ends use the memory region of the parent: the global region of
 * a NIC, the private region of a VALE port.
 *
 * Lifetime, all under netmap_lock: a pipe exists while one of its ends is
 * referenced (looked up or bound); its rings have memory while one of its
 * ends is bound. Each pipe holds a reference to its parent.
 *
 * Syncs: T and R are synced under their own locks, possibly at the same
 * time on two CPUs. Each shared value has one writer:
 *   R.peer_tail  written by T's txsync, read by R's rxsync;
 *   R.nr_hwcur   written by R's rxsync, read by T's txsync;
 * both published with smp_store_release() and read with
 * smp_load_acquire(), which also orders the slots written before them.
 * Each slot has one kernel writer at a time: R[k] for k from R.peer_tail
 * up to R.hwcur - 1 only by T's txsync, T[k] for k in [R.hwcur,
 * R.peer_tail) only by R's rxsync (and a /z monitor of R, before it);
 * T's txsync writes T[k] (NS_BUF_CHANGED) only for the slots it sends,
 * which R's rxsync cannot reach before the release of peer_tail.
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

/* Read a tx slot once and check its buffer, offset and length. */
static bool nm_pipe_tx_slot(const struct netmap_kring *txk,
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
	u32 head = txk->rhead;
	u32 t = txk->nr_hwcur;		/* == rxk->peer_tail, ours to write */
	u32 sent = t;			/* end of the last whole packet */
	struct netmap_slot slot;
	int err = 0;

	/* Userspace handed over [hwcur, head): all free in R (tail check). */
	for (; t != head; t = nm_next(t, n)) {
		if (unlikely(!nm_pipe_tx_slot(txk, &ts[t], &slot))) {
			err = -EINVAL;
			break;
		}
		if (unlikely(slot.flags & NS_BUF_CHANGED)) {
			slot.flags &= ~NS_BUF_CHANGED;
			WRITE_ONCE(ts[t].flags, slot.flags);
		}
		rs[t] = slot;
		if (!(slot.flags & NS_MOREFRAG))
			sent = nm_next(t, n);
	}
	if (sent != txk->nr_hwcur) {
		netmap_monitor_landed(rxk, txk->nr_hwcur, sent);
		txk->nr_hwcur = sent;
		smp_store_release(&rxk->peer_tail, sent);
		netmap_kring_wake(rxk);
	}
	txk->nr_hwtail = nm_back(smp_load_acquire(&rxk->nr_hwcur), 1, n);
	return err;
}

static int nm_pipe_rxsync(struct netmap_kring *rxk)
{
	struct netmap_kring *txk = rxk->peer;
	u32 n = rxk->num_slots;
	u32 head = rxk->rhead;
	u32 r = rxk->nr_hwcur;
	int err = 0;

	if (r != head) {
		struct netmap_slot *rs = nm_ring_slots(rxk->ring);
		struct netmap_slot *ts = nm_ring_slots(txk->ring);
		struct netmap_slot slot;

		for (; r != head; r = nm_next(r, n)) {
			slot.buf_idx = READ_ONCE(rs[r].buf_idx);
			if (unlikely(slot.buf_idx < NM_RESERVED_BUFS ||
				     slot.buf_idx >= rxk->nbufs)) {
				err = -EINVAL;
				break;
			}
			slot.len = READ_ONCE(rs[r].len);
			slot.flags = READ_ONCE(rs[r].flags);
			slot.ptr = READ_ONCE(rs[r].ptr);
			ts[r] = slot;
		}
		if (r != rxk->nr_hwcur) {
			smp_store_release(&rxk->nr_hwcur, r);
			netmap_kring_wake(txk);
		}
	}
	rxk->nr_hwtail = smp_load_acquire(&rxk->peer_tail);
	return err;
}

/* ---------------------------------------------------------------------- */
/* Ends: activation and references                                         */
/* ---------------------------------------------------------------------- */

/* Apply @fn to each tx ring of the pipe and the rx ring it feeds. */
static void nm_pipe_for_each_pair(struct netmap_pipe *pipe,
				  void (*fn)(struct netmap_kring *txk,
					     struct netmap_kring *rxk))
{
	int e;
	u32 i;

	for (e = 0; e < 2; e++) {
		struct netmap_port *port = &pipe->end[e].port;

		for (i = 0; i < port->nrings[NM_TX]; i++)
			fn(&port->krings[NM_TX][i], port->krings[NM_TX][i].peer);
	}
}

/* A new pair: R shows T's buffers, every slot on the sending side. */
static void nm_pipe_pair_init(struct netmap_kring *txk,
			      struct netmap_kring *rxk)
{
	memcpy(nm_ring_slots(rxk->ring), nm_ring_slots(txk->ring),
	       txk->num_slots * sizeof(struct netmap_slot));
}

/*
 * A pair about to be deleted (no end bound): the buffers in flight go
 * back to T, which frees them all. Unlike the syncs, nothing is checked:
 * the frees skip what is not an allocated buffer.
 */
static void nm_pipe_pair_fini(struct netmap_kring *txk,
			      struct netmap_kring *rxk)
{
	struct netmap_slot *ts = nm_ring_slots(txk->ring);
	struct netmap_slot *rs = nm_ring_slots(rxk->ring);
	u32 n = rxk->num_slots;
	u32 k;

	for (k = rxk->nr_hwcur; k != rxk->peer_tail; k = nm_next(k, n))
		WRITE_ONCE(ts[k].buf_idx, READ_ONCE(rs[k].buf_idx));
}

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
	else
		nm_pipe_for_each_pair(pipe, nm_pipe_pair_init);
	return err;
}

static void nm_pipe_deactivate(struct netmap_port *port)
{
	struct netmap_pipe *pipe = nm_pipe_end(port)->pipe;

	if (--pipe->active)
		return;
	nm_pipe_for_each_pair(pipe, nm_pipe_pair_fini);
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

/*
 * Pair master tx i with slave rx i, and slave tx i with master rx i; each
 * rx ring borrows the buffers of its tx ring.
 */
static void nm_pipe_link(struct netmap_pipe *pipe)
{
	struct netmap_port *m = &pipe->end[NM_PIPE_MASTER].port;
	struct netmap_port *s = &pipe->end[NM_PIPE_SLAVE].port;
	u32 i;

	for (i = 0; i < m->nrings[NM_TX]; i++) {
		m->krings[NM_TX][i].peer = &s->krings[NM_RX][i];
		s->krings[NM_RX][i].peer = &m->krings[NM_TX][i];
		s->krings[NM_RX][i].borrows = true;
	}
	for (i = 0; i < s->nrings[NM_TX]; i++) {
		s->krings[NM_TX][i].peer = &m->krings[NM_RX][i];
		m->krings[NM_RX][i].peer = &s->krings[NM_TX][i];
		m->krings[NM_RX][i].borrows = true;
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
