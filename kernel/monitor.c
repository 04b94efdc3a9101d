// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Monitor ports: "X/t", "X/r", "X/rt" (copy monitors, NR_MONITOR_TX and
 * NR_MONITOR_RX) and "X/z" (zero-copy monitor, NR_ZCOPY_MON, both
 * directions unless one is asked for).
 *
 * A monitor request names the monitored port X and its rings exactly as a
 * registration of X would (mode, ring id, X's name); the monitor flags make
 * it a new, unnamed monitor port instead. The monitor has as many ring
 * pairs as X (max(X's tx, X's rx) hardware rings, and X's host rings when
 * X has them) in X's memory region. Only its rx rings carry traffic: rx
 * ring i gets what crosses X's tx ring i and X's rx ring i (host rings
 * likewise), in the order the crossings happen. Its tx rings take and drop
 * whatever they are given.
 *
 * When a packet is seen:
 *   copy, tx     when X's owner hands it over (its txsync), before X sends
 *                it; the copy is marked NS_TXMON;
 *   copy, rx     when X's rxsync reports it to X's owner;
 *   zero-copy    after X is done with it: a received packet once X's owner
 *                released it, a sent one once X gave its slot back (for a
 *                pipe, once the other end released it). The buffer itself
 *                moves to the monitor and X's slot gets the monitor's
 *                free buffer, both marked NS_BUF_CHANGED.
 * A packet that finds the monitor ring full is dropped for the monitor
 * (whole, never a part of a fragment chain that fits).
 *
 * Several copy monitors may watch a ring; a zero-copy monitor needs the
 * ring's released (or freed) slots for itself: a second one gets -EBUSY.
 * Monitoring starts when the monitor is bound, which needs X active
 * (bound by someone): otherwise -ENXIO. A bound monitor keeps X's rings
 * (and so X's netmap mode) alive until it is closed.
 *
 * How it hooks in: a watched ring's nm_sync is replaced by nm_mon_sync(),
 * which runs the ring's own sync between the before- and after-steps of
 * its links. The hook is installed and removed under netmap_lock and the
 * ring's lock (IRQs off: some syncs run in IRQ context, see irqsafe_sync).
 *
 * A monitor rx ring is filled as a pipe's rx ring is, without its lock:
 * the watched rings (producers, serialised by mon->lock, IRQ-safe) write
 * the free slots from mk->peer_tail on and publish it; the monitor's rxsync
 * publishes mk->nr_hwcur as it releases slots. Both with release/acquire.
 * So the producers, which may run in any context, never take a ring lock
 * that process context holds with IRQs on.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "netmap_kern.h"

#define NM_MON_FLAGS	(NR_MONITOR_TX | NR_MONITOR_RX | NR_ZCOPY_MON)

/* What a link takes from the watched ring, and when. */
enum nm_mon_kind {
	NM_MON_COPY_TX,	/* copy [seen, head) before the sync */
	NM_MON_COPY_RX,	/* copy the slots the sync reported */
	NM_MON_ZREL,	/* swap the slots released, before the sync */
	NM_MON_ZFREE,	/* swap the slots the sync freed (from seen on) */
};

/**
 * struct nm_mon_link - one monitor rx ring fed by one watched ring
 * @node: entry in the watched ring's list
 * @pk: the watched ring
 * @mk: the monitor's rx ring
 * @kind: what it takes
 * @txmon: NS_TXMON when the traffic is the watched port's tx traffic
 * @seen: NM_MON_COPY_TX and NM_MON_ZFREE: the next slot to take
 * @lock: the producers' lock of the monitor (nm_mon_port.lock)
 */
struct nm_mon_link {
	struct list_head node;
	struct netmap_kring *pk;
	struct netmap_kring *mk;
	enum nm_mon_kind kind;
	u16 txmon;
	u32 seen;
	spinlock_t *lock;
};

/**
 * struct netmap_mon_kring - the monitors of one watched ring
 * @sync: the ring's own sync
 * @links: the links, in attach order
 * @zcopy: a zero-copy link is among them
 */
struct netmap_mon_kring {
	int (*sync)(struct netmap_kring *kring);
	struct list_head links;
	bool zcopy;
};

/**
 * struct nm_mon_port - a monitor
 * @up: the port
 * @parent: the monitored port (one reference)
 * @first: first watched ring of the parent, per direction
 * @last: one past the last, per direction
 * @dirs: which directions are watched (bit NM_TX, bit NM_RX)
 * @zcopy: zero-copy
 * @links: the links while bound
 * @nlinks: how many
 * @lock: serialises the producers of all the monitor's rx rings
 */
struct nm_mon_port {
	struct netmap_port up;
	struct netmap_port *parent;
	u32 first[NM_NDIR];
	u32 last[NM_NDIR];
	unsigned int dirs;
	bool zcopy;
	struct nm_mon_link *links;
	u32 nlinks;
	spinlock_t lock;
};

static struct nm_mon_port *nm_mon_port(struct netmap_port *port)
{
	return container_of(port, struct nm_mon_port, up);
}

/* ---------------------------------------------------------------------- */
/* Moving packets                                                          */
/* ---------------------------------------------------------------------- */

/* Copy @len bytes between two buffers of one region. */
static void nm_mon_buf_copy(struct netmap_mem *mem, u32 dst, u32 src,
			    u32 len)
{
	u32 off = 0;

	while (off < len) {
		u32 n = len - off, m;
		void *s = netmap_buf_chunk(mem, src, off, &n);
		void *d;

		if (!s)
			return;
		m = n;
		d = netmap_buf_chunk(mem, dst, off, &m);
		if (!d)
			return;
		memcpy(d, s, m);
		off += m;
	}
}

/* Slots of the packet at @i, not going past @to. */
static u32 nm_mon_chain(struct netmap_kring *pk, u32 i, u32 to)
{
	struct netmap_slot *slot = nm_ring_slots(pk->ring);
	u32 k = 0;

	while (i != to) {
		k++;
		if (!(READ_ONCE(slot[i].flags) & NS_MOREFRAG))
			break;
		i = nm_next(i, pk->num_slots);
	}
	return k;
}

/* One slot of the watched ring into the monitor ring, copied or swapped. */
static void nm_mon_slot(struct nm_mon_link *l, u32 i, u32 t)
{
	struct netmap_slot *ps = &nm_ring_slots(l->pk->ring)[i];
	struct netmap_slot *ms = &nm_ring_slots(l->mk->ring)[t];
	u32 pidx = READ_ONCE(ps->buf_idx);
	u32 midx = READ_ONCE(ms->buf_idx);
	u32 len = READ_ONCE(ps->len);
	u16 flags = (READ_ONCE(ps->flags) & NS_MOREFRAG) | l->txmon;

	if (pidx < NM_RESERVED_BUFS || pidx >= l->pk->nbufs ||
	    midx < NM_RESERVED_BUFS || midx >= l->mk->nbufs)
		len = 0;
	len = min3(len, l->pk->buf_size, l->mk->buf_size);
	if (len && (l->kind == NM_MON_ZREL || l->kind == NM_MON_ZFREE)) {
		WRITE_ONCE(ms->buf_idx, pidx);
		WRITE_ONCE(ps->buf_idx, midx);
		WRITE_ONCE(ps->flags, NS_BUF_CHANGED);
		flags |= NS_BUF_CHANGED;
	} else if (len) {
		nm_mon_buf_copy(l->mk->port->mem, midx, pidx, len);
	}
	WRITE_ONCE(ms->len, len);
	WRITE_ONCE(ms->flags, flags);
}

/*
 * The packets in [@from, @to) of the watched ring into the monitor ring,
 * as far as they fit. The watched ring's lock is held.
 */
static void nm_mon_range(struct nm_mon_link *l, u32 from, u32 to)
{
	struct netmap_kring *pk = l->pk, *mk = l->mk;
	u32 mn = mk->num_slots;
	unsigned long flags;
	u32 t, t0, room;

	if (from == to)
		return;
	spin_lock_irqsave(l->lock, flags);
	t = t0 = mk->peer_tail;
	room = nm_dist(t, nm_back(smp_load_acquire(&mk->nr_hwcur), 1, mn), mn);
	while (from != to) {
		u32 k = nm_mon_chain(pk, from, to), j;

		if (k <= room) {
			for (j = 0; j < k; j++) {
				nm_mon_slot(l, from, t);
				from = nm_next(from, pk->num_slots);
				t = nm_next(t, mn);
			}
			room -= k;
		} else {
			from = (from + k) % pk->num_slots;
		}
	}
	if (t != t0)
		smp_store_release(&mk->peer_tail, t);
	spin_unlock_irqrestore(l->lock, flags);
	if (t != t0)
		netmap_kring_wake(mk);
}

/* The sync of a watched ring. Its lock is held. */
static int nm_mon_sync(struct netmap_kring *pk)
{
	struct netmap_mon_kring *st = pk->mon;
	u32 n = pk->num_slots;
	u32 old_tail = pk->nr_hwtail;
	u32 old_cur = pk->nr_hwcur;
	struct nm_mon_link *l;
	int err;

	list_for_each_entry(l, &st->links, node) {
		if (l->kind == NM_MON_COPY_TX) {
			nm_mon_range(l, l->seen, pk->rhead);
			l->seen = pk->rhead;
		} else if (l->kind == NM_MON_ZREL) {
			nm_mon_range(l, old_cur, pk->rhead);
		}
	}
	err = st->sync(pk);
	if (err)
		return err;
	list_for_each_entry(l, &st->links, node) {
		if (l->kind == NM_MON_COPY_RX) {
			nm_mon_range(l, old_tail, pk->nr_hwtail);
		} else if (l->kind == NM_MON_ZFREE &&
			   nm_dist(old_tail, l->seen, n) <
			   nm_dist(old_tail, pk->nr_hwtail, n)) {
			nm_mon_range(l, l->seen, pk->nr_hwtail);
			l->seen = pk->nr_hwtail;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Attaching to the watched rings                                          */
/* ---------------------------------------------------------------------- */

/* Hook @l into its watched ring. netmap_lock held. */
static int nm_mon_attach(struct nm_mon_link *l)
{
	struct netmap_kring *pk = l->pk;
	bool z = l->kind == NM_MON_ZREL || l->kind == NM_MON_ZFREE;
	struct netmap_mon_kring *st = pk->mon, *fresh = NULL;
	unsigned long flags;

	lockdep_assert_held(&netmap_lock);
	if (st && z && st->zcopy)
		return -EBUSY;
	if (!st) {
		fresh = kzalloc(sizeof(*fresh), GFP_KERNEL);
		if (!fresh)
			return -ENOMEM;
		INIT_LIST_HEAD(&fresh->links);
	}
	spin_lock_irqsave(&pk->lock, flags);
	if (fresh) {
		fresh->sync = pk->nm_sync;
		pk->mon = fresh;
		pk->nm_sync = nm_mon_sync;
		st = fresh;
	}
	l->seen = pk->nr_hwcur;
	list_add_tail(&l->node, &st->links);
	if (z)
		st->zcopy = true;
	spin_unlock_irqrestore(&pk->lock, flags);
	return 0;
}

/* Unhook @l; the last link gives the ring its own sync back. */
static void nm_mon_detach(struct nm_mon_link *l)
{
	struct netmap_kring *pk = l->pk;
	struct netmap_mon_kring *st = pk->mon;
	unsigned long flags;
	bool last;

	lockdep_assert_held(&netmap_lock);
	spin_lock_irqsave(&pk->lock, flags);
	list_del(&l->node);
	if (l->kind == NM_MON_ZREL || l->kind == NM_MON_ZFREE)
		st->zcopy = false;
	last = list_empty(&st->links);
	if (last) {
		pk->nm_sync = st->sync;
		pk->mon = NULL;
	}
	spin_unlock_irqrestore(&pk->lock, flags);
	if (last)
		kfree(st);
}

/* The monitor rx ring fed by ring @i of direction @t of the parent. */
static struct netmap_kring *nm_mon_target(struct nm_mon_port *mon,
					  enum nm_txrx t, u32 i)
{
	u32 hw = mon->parent->nrings[t];
	u32 k = i < hw ? i : mon->up.nrings[NM_RX] + (i - hw);

	return &mon->up.krings[NM_RX][k];
}

/* Fill in link @l for ring @i of direction @t of the parent. */
static void nm_mon_link_init(struct nm_mon_port *mon, struct nm_mon_link *l,
			     enum nm_txrx t, u32 i)
{
	struct netmap_kring *pk = &mon->parent->krings[t][i];

	l->mk = nm_mon_target(mon, t, i);
	l->lock = &mon->lock;
	l->txmon = t == NM_TX ? NS_TXMON : 0;
	l->pk = pk;
	if (!mon->zcopy) {
		l->kind = t == NM_TX ? NM_MON_COPY_TX : NM_MON_COPY_RX;
	} else if (t == NM_RX) {
		l->kind = NM_MON_ZREL;
	} else if (pk->peer) {
		/* A pipe moves the buffer itself: take it where it lands. */
		l->pk = pk->peer;
		l->kind = NM_MON_ZREL;
	} else {
		l->kind = NM_MON_ZFREE;
	}
}

static void nm_mon_unlink(struct nm_mon_port *mon, u32 n)
{
	while (n--)
		nm_mon_detach(&mon->links[n]);
	kfree(mon->links);
	mon->links = NULL;
	mon->nlinks = 0;
}

static int nm_mon_link_all(struct nm_mon_port *mon)
{
	enum nm_txrx t;
	u32 n = 0, i;
	int err;

	for_each_dir(t)
		if (mon->dirs & BIT(t))
			n += mon->last[t] - mon->first[t];
	mon->links = kcalloc(n, sizeof(*mon->links), GFP_KERNEL);
	if (!mon->links)
		return -ENOMEM;
	n = 0;
	for_each_dir(t) {
		if (!(mon->dirs & BIT(t)))
			continue;
		for (i = mon->first[t]; i < mon->last[t]; i++) {
			nm_mon_link_init(mon, &mon->links[n], t, i);
			err = nm_mon_attach(&mon->links[n]);
			if (err) {
				nm_mon_unlink(mon, n);
				return err;
			}
			n++;
		}
	}
	mon->nlinks = n;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* The monitor port                                                        */
/* ---------------------------------------------------------------------- */

static int nm_mon_txsync(struct netmap_kring *kring)
{
	kring->nr_hwcur = kring->rhead;
	kring->nr_hwtail = nm_back(kring->rhead, 1, kring->num_slots);
	return 0;
}

/* The watched rings fill it (nm_mon_range()); the sync releases and looks. */
static int nm_mon_rxsync(struct netmap_kring *kring)
{
	if (kring->rhead != kring->nr_hwcur)
		smp_store_release(&kring->nr_hwcur, kring->rhead);
	kring->nr_hwtail = smp_load_acquire(&kring->peer_tail);
	return 0;
}

static int nm_mon_activate(struct netmap_port *port)
{
	struct nm_mon_port *mon = nm_mon_port(port);
	struct netmap_port *parent = mon->parent;
	int err;

	if (!parent->users)
		return -ENXIO;
	err = netmap_port_rings_create(port);
	if (err)
		return err;
	err = nm_mon_link_all(mon);
	if (err) {
		netmap_port_rings_delete(port);
		return err;
	}
	parent->users++;	/* keep the watched rings */
	return 0;
}

static void nm_mon_deactivate(struct netmap_port *port)
{
	struct nm_mon_port *mon = nm_mon_port(port);
	struct netmap_port *parent = mon->parent;

	nm_mon_unlink(mon, mon->nlinks);
	netmap_port_rings_delete(port);
	if (!--parent->users)
		parent->ops->deactivate(parent);
}

static void nm_mon_dtor(struct netmap_port *port)
{
	struct nm_mon_port *mon = nm_mon_port(port);

	netmap_port_krings_free(port);
	netmap_mem_put(port->mem);
	netmap_port_put(mon->parent);
	netmap_port_fini(port);
	kfree(mon);
}

static const struct netmap_port_ops nm_mon_ops = {
	.activate = nm_mon_activate,
	.deactivate = nm_mon_deactivate,
	.txsync = nm_mon_txsync,
	.rxsync = nm_mon_rxsync,
	.dtor = nm_mon_dtor,
};

/* The monitor of @parent's rings [first, last), laid out like @parent. */
static struct nm_mon_port *nm_mon_new(struct netmap_port *parent, u64 flags)
{
	u32 hw = max(parent->nrings[NM_TX], parent->nrings[NM_RX]);
	u32 host = max(parent->nhost[NM_TX], parent->nhost[NM_RX]);
	u32 slots = max(parent->nslots[NM_TX], parent->nslots[NM_RX]);
	struct nm_mon_port *mon;
	enum nm_txrx t;
	int err;

	mon = kzalloc(sizeof(*mon), GFP_KERNEL);
	if (!mon)
		return ERR_PTR(-ENOMEM);
	netmap_port_init(&mon->up, &nm_mon_ops);
	spin_lock_init(&mon->lock);
	strscpy(mon->up.name, parent->name, sizeof(mon->up.name));
	netmap_mem_get(parent->mem);
	mon->up.mem = parent->mem;
	mon->up.host_rings = parent->host_rings;
	for_each_dir(t) {
		mon->up.nrings[t] = hw;
		mon->up.nhost[t] = parent->host_rings ? host : 1;
		mon->up.nslots[t] = slots;
	}
	mon->zcopy = flags & NR_ZCOPY_MON;
	if (flags & NR_MONITOR_TX)
		mon->dirs |= BIT(NM_TX);
	if (flags & NR_MONITOR_RX)
		mon->dirs |= BIT(NM_RX);
	if (!mon->dirs)
		mon->dirs = BIT(NM_TX) | BIT(NM_RX);
	err = netmap_port_krings_alloc(&mon->up);
	if (err) {
		netmap_mem_put(mon->up.mem);
		netmap_port_fini(&mon->up);
		kfree(mon);
		return ERR_PTR(err);
	}
	return mon;
}

/**
 * netmap_monitor_lookup() - a new monitor of a port's rings
 * @name: the monitored port
 * @reg: the request: mode and ring id select the monitored port's rings;
 *	nr_flags holds the monitor flags
 * @portp: the monitor, with one reference
 *
 * netmap_lock held.
 *
 * Return: 0, the monitored port's lookup error, -EINVAL (a port without
 * rings, a bad ring selection) or -ENOMEM.
 */
int netmap_monitor_lookup(const char *name, const struct nmreq_register *reg,
			  struct netmap_port **portp)
{
	struct nmreq_register preg = *reg;
	struct netmap_port *parent;
	struct nm_mon_port *mon;
	int err;

	lockdep_assert_held(&netmap_lock);
	preg.nr_flags &= ~(u64)NM_MON_FLAGS;
	err = netmap_port_lookup(name, &preg, &parent);
	if (err)
		return err;
	err = -EINVAL;
	if (!parent->ops->activate)
		goto fail;
	err = -EOPNOTSUPP;	/* a ptnet guest port: the host's rings */
	if (parent->pt_nifp)
		goto fail;
	mon = nm_mon_new(parent, reg->nr_flags);
	if (IS_ERR(mon)) {
		err = PTR_ERR(mon);
		goto fail;
	}
	mon->parent = parent;
	err = netmap_ring_range(parent, &preg, mon->first, mon->last);
	if (err) {
		netmap_port_put(&mon->up);
		return err;
	}
	*portp = &mon->up;
	return 0;
fail:
	netmap_port_put(parent);
	return err;
}
