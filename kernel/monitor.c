// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Monitor ports: "X/t", "X/r", "X/rt" (copy monitors, NR_MONITOR_TX and
 * NR_MONITOR_RX) and "X/z" (zero-copy monitor, NR_ZCOPY_MON, both
 * directions unless one is asked for).
 *
 * A monitor request names the monitored port X and its rings exactly as a
 * registration of X would (mode, ring id, X's name); the monitor flags make
 * it a new, unnamed monitor port instead. X must be in netmap mode (bound
 * by someone), else -EINVAL. The monitor has max(X's tx, X's rx) hardware
 * rx rings, X's host rings when X has them, and one tx ring, which cannot
 * send (a txsync with slots to send fails with -EIO). Its rings have X's
 * slot counts unless the request asks otherwise, at most
 * NM_MON_MAX_SLOTS. Copy monitors have a private region of their own; a
 * zero-copy monitor lives in X's region, since it trades buffers with X.
 *
 * Only the rx rings carry traffic: rx ring i gets what crosses X's tx ring
 * i and X's rx ring i (host rings likewise), in the order the crossings
 * happen. A packet is seen:
 *   copy, tx     at X's txsync, slots hwcur..head, before X passes them
 *                on; the copy is marked NS_TXMON;
 *   copy, rx     the moment it lands in X's rx ring (a VALE switch or a
 *                pipe's other end delivering it, netmap_monitor_landed()),
 *                whether or not anyone reads X; otherwise (a NIC) at X's
 *                rxsync. X's reader still gets its copy;
 *   zero-copy    once X is done with it. rx: the slots X's reader released
 *                (hwcur..head), before X's rxsync. tx: the slots X's
 *                txsync completed (old tail + 1 .. new tail + 1): a VALE
 *                port completes them at once; a pipe end only once the
 *                other end released them and handed them back (pipe.c),
 *                so at X's next txsync. The buffer moves to the monitor
 *                and X's slot gets the monitor's old buffer, both marked
 *                NS_BUF_CHANGED (a VALE switch has already made its
 *                copies by then).
 * When more packets arrive than the monitor ring has room for, the oldest
 * of them are dropped for the monitor (whole fragment chains).
 *
 * Several copy monitors may watch a ring; the buffers a zero-copy monitor
 * takes can only go to one of them: a second one gets -EBUSY. When X
 * leaves netmap mode (its last binding goes), its monitors are unhooked
 * and their rxsync fails with -EIO from then on.
 *
 * Everything in X's rings and the monitor's is user-writable: each slot is
 * read once and its buffer index and length checked before use.
 *
 * How it hooks in. A watched ring's nm_sync is replaced by nm_mon_sync(),
 * which runs the ring's own sync between the before- and after-steps of
 * its links; the hook is installed and removed under netmap_lock and the
 * ring's lock (IRQs off: some syncs run in IRQ context, see irqsafe_sync).
 * Deliveries into a watched rx ring run under the deliverer's locks, not
 * the ring's: they find the links through kring->mon under RCU, and the
 * links are freed after a grace period.
 *
 * A monitor rx ring is filled as a pipe's rx ring is, without its lock:
 * the producers (watched rings and deliveries, serialised by mon->lock, an
 * IRQ-safe leaf lock) write the free slots from mk->peer_tail on and
 * publish it; the monitor's rxsync publishes mk->nr_hwcur as it releases
 * slots. Both with release/acquire.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/rculist.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "netmap_kern.h"

#define NM_MON_FLAGS	(NR_MONITOR_TX | NR_MONITOR_RX | NR_ZCOPY_MON)
#define NM_MON_MAX_SLOTS	4096

/* What a link takes, and when. */
enum nm_mon_kind {
	NM_MON_COPY_TX,	/* copy [seen, head) before the sync */
	NM_MON_COPY_RX,	/* copy what lands, or what the sync reported */
	NM_MON_ZREL,	/* swap the slots released, before the sync */
	NM_MON_ZFREE,	/* swap the slots the sync completed */
};

struct nm_mon_port;

/**
 * struct nm_mon_link - one monitor rx ring fed by one watched ring
 * @node: entry in the watched ring's list (RCU)
 * @pk: the watched ring, whose sync is hooked
 * @bk: the ring whose buffers are taken, for the one-zero-copy-monitor
 *	rule: @pk, or for a pipe's tx ring the rx ring it feeds, which
 *	shares its buffers (pipe.c)
 * @mk: the monitor's rx ring
 * @mon: the monitor
 * @kind: what it takes
 * @txmon: NS_TXMON when the traffic is the watched port's tx traffic
 * @seen: the next slot of @pk to take (all kinds but NM_MON_ZREL)
 * @st_free: the watched ring's state, to free once the link is gone
 */
struct nm_mon_link {
	struct list_head node;
	struct netmap_kring *pk;
	struct netmap_kring *bk;
	struct netmap_kring *mk;
	struct nm_mon_port *mon;
	enum nm_mon_kind kind;
	u16 txmon;
	u32 seen;
	struct netmap_mon_kring *st_free;
};

/**
 * struct netmap_mon_kring - the monitors of one watched ring
 * @sync: the ring's own sync
 * @links: the links, in attach order
 */
struct netmap_mon_kring {
	int (*sync)(struct netmap_kring *kring);
	struct list_head links;
};

/**
 * struct nm_mon_port - a monitor
 * @up: the port
 * @parent: the monitored port (one reference)
 * @first: first watched ring of the parent, per direction
 * @last: one past the last, per direction
 * @dirs: which directions are watched (bit NM_TX, bit NM_RX)
 * @zcopy: zero-copy
 * @gone: the parent left netmap mode; the links are gone
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
	bool gone;
	struct nm_mon_link *links;
	u32 nlinks;
	spinlock_t lock;
};

static struct nm_mon_port *nm_mon_port(struct netmap_port *port)
{
	return container_of(port, struct nm_mon_port, up);
}

static bool nm_mon_kind_zcopy(enum nm_mon_kind kind)
{
	return kind == NM_MON_ZREL || kind == NM_MON_ZFREE;
}

/* ---------------------------------------------------------------------- */
/* Moving packets                                                          */
/* ---------------------------------------------------------------------- */

/*
 * Copy @len bytes from offset @soff of a buffer of @smem to offset @doff
 * of one of @dmem.
 */
static void nm_mon_buf_copy(struct netmap_mem *dmem, u32 didx, u32 doff,
			    struct netmap_mem *smem, u32 sidx, u32 soff,
			    u32 len)
{
	u32 off = 0;

	while (off < len) {
		u32 n = len - off, m;
		void *s = netmap_buf_chunk(smem, sidx, soff + off, &n);
		void *d;

		if (!s)
			return;
		m = n;
		d = netmap_buf_chunk(dmem, didx, doff + off, &m);
		if (!d)
			return;
		memcpy(d, s, m);
		off += m;
	}
}

/* Slots of the packet at @i of @k, not going past @to; at least 1. */
static u32 nm_mon_chain(struct netmap_kring *k, u32 i, u32 to)
{
	struct netmap_slot *slot = nm_ring_slots(k->ring);
	u32 n = 0;

	while (i != to) {
		n++;
		if (!(READ_ONCE(slot[i].flags) & NS_MOREFRAG))
			break;
		i = nm_next(i, k->num_slots);
	}
	return n;
}

/* Slot @i of @src into slot @t of the monitor ring, copied or swapped. */
static void nm_mon_slot(struct nm_mon_link *l, struct netmap_kring *src,
			u32 i, u32 t)
{
	struct netmap_slot *ps = &nm_ring_slots(src->ring)[i];
	struct netmap_slot *ms = &nm_ring_slots(l->mk->ring)[t];
	u32 pidx = READ_ONCE(ps->buf_idx);
	u32 midx = READ_ONCE(ms->buf_idx);
	u32 len = READ_ONCE(ps->len);
	u16 flags = (READ_ONCE(ps->flags) & NS_MOREFRAG) | l->txmon;
	u32 soff = 0, moff = 0;

	if (pidx < NM_RESERVED_BUFS || pidx >= src->nbufs ||
	    midx < NM_RESERVED_BUFS || midx >= l->mk->nbufs)
		len = 0;
	if (!nm_mon_kind_zcopy(l->kind)) {
		soff = nm_slot_offset(src, ps);
		moff = nm_slot_offset(l->mk, ms);
	}
	len = min3(len, nm_buf_room(src, soff), nm_buf_room(l->mk, moff));
	if (len && nm_mon_kind_zcopy(l->kind)) {
		WRITE_ONCE(ms->buf_idx, pidx);
		WRITE_ONCE(ps->buf_idx, midx);
		WRITE_ONCE(ps->flags, NS_BUF_CHANGED);
		flags |= NS_BUF_CHANGED;
	} else if (len) {
		nm_mon_buf_copy(l->mk->port->mem, midx, moff, src->port->mem,
				pidx, soff, len);
	}
	WRITE_ONCE(ms->len, len);
	WRITE_ONCE(ms->flags, flags);
}

/*
 * The slots [@from, @to) of @src into the monitor ring: when they do not
 * all fit, the oldest packets are left out. mon->lock held. Returns
 * whether the monitor ring got anything.
 */
static bool nm_mon_put_locked(struct nm_mon_link *l, struct netmap_kring *src,
			      u32 from, u32 to)
{
	struct netmap_kring *mk = l->mk;
	u32 mn = mk->num_slots, sn = src->num_slots;
	u32 t = mk->peer_tail, t0 = t;
	u32 room = nm_dist(t, nm_back(smp_load_acquire(&mk->nr_hwcur), 1, mn),
			   mn);

	while (nm_dist(from, to, sn) > room) {
		from += nm_mon_chain(src, from, to);
		if (from >= sn)
			from -= sn;
	}
	for (; from != to; from = nm_next(from, sn), t = nm_next(t, mn))
		nm_mon_slot(l, src, from, t);
	if (t == t0)
		return false;
	smp_store_release(&mk->peer_tail, t);
	return true;
}

/* nm_mon_put_locked() with the lock, and the wake-up. */
static void nm_mon_put(struct nm_mon_link *l, struct netmap_kring *src,
		       u32 from, u32 to)
{
	unsigned long flags;
	bool moved;

	if (from == to)
		return;
	spin_lock_irqsave(&l->mon->lock, flags);
	moved = nm_mon_put_locked(l, src, from, to);
	spin_unlock_irqrestore(&l->mon->lock, flags);
	if (moved)
		netmap_kring_wake(l->mk);
}

/*
 * A copy-rx link after the watched ring's rxsync: what the sync reported
 * from @seen on, unless a delivery took it already (then @seen is at or
 * past the new tail).
 */
static void nm_mon_rx_reported(struct nm_mon_link *l, u32 old_tail,
			       u32 new_tail)
{
	struct netmap_kring *pk = l->pk;
	u32 n = pk->num_slots;
	unsigned long flags;
	bool moved = false;

	spin_lock_irqsave(&l->mon->lock, flags);
	if (nm_dist(old_tail, l->seen, n) < nm_dist(old_tail, new_tail, n)) {
		moved = nm_mon_put_locked(l, pk, l->seen, new_tail);
		l->seen = new_tail;
	}
	spin_unlock_irqrestore(&l->mon->lock, flags);
	if (moved)
		netmap_kring_wake(l->mk);
}

/* The sync of a watched ring. Its lock is held. */
static int nm_mon_sync(struct netmap_kring *pk)
{
	struct netmap_mon_kring *st =
		rcu_dereference_protected(pk->mon, lockdep_is_held(&pk->lock));
	u32 n = pk->num_slots;
	u32 old_tail = pk->nr_hwtail;
	u32 old_cur = pk->nr_hwcur;
	struct nm_mon_link *l;
	int err;

	list_for_each_entry(l, &st->links, node) {
		switch (l->kind) {
		case NM_MON_COPY_TX:
			nm_mon_put(l, pk, l->seen, pk->rhead);
			l->seen = pk->rhead;
			break;
		case NM_MON_ZREL:
			nm_mon_put(l, pk, old_cur, pk->rhead);
			break;
		default:
			break;
		}
	}
	err = st->sync(pk);
	if (err)
		return err;
	list_for_each_entry(l, &st->links, node) {
		if (l->kind == NM_MON_COPY_RX) {
			nm_mon_rx_reported(l, old_tail, pk->nr_hwtail);
		} else if (l->kind == NM_MON_ZFREE) {
			u32 done = nm_next(pk->nr_hwtail, n);
			u32 old_done = nm_next(old_tail, n);

			if (nm_dist(old_done, l->seen, n) <
			    nm_dist(old_done, done, n)) {
				nm_mon_put(l, pk, l->seen, done);
				l->seen = done;
			}
		}
	}
	return 0;
}

/**
 * netmap_monitor_landed_slow() - packets landed in a watched rx ring
 * @kring: an rx ring with monitors (kring->mon set)
 * @from: the first slot filled
 * @to: one past the last
 *
 * Called by whoever fills @kring (a pipe's other end, a VALE switch)
 * under its own locks, after writing the slots and before publishing
 * them to @kring's rxsync; any context. The copy-rx monitors of @kring
 * take the packets now.
 */
void netmap_monitor_landed_slow(struct netmap_kring *kring, u32 from, u32 to)
{
	struct netmap_mon_kring *st;
	struct nm_mon_link *l;
	unsigned long flags;
	bool moved;

	if (from == to)
		return;
	rcu_read_lock();
	st = rcu_dereference(kring->mon);
	if (st) {
		list_for_each_entry_rcu(l, &st->links, node) {
			if (l->kind != NM_MON_COPY_RX)
				continue;
			spin_lock_irqsave(&l->mon->lock, flags);
			moved = nm_mon_put_locked(l, kring, from, to);
			l->seen = to;
			spin_unlock_irqrestore(&l->mon->lock, flags);
			if (moved)
				netmap_kring_wake(l->mk);
		}
	}
	rcu_read_unlock();
}

/* ---------------------------------------------------------------------- */
/* Attaching to the watched rings                                          */
/* ---------------------------------------------------------------------- */

static struct netmap_mon_kring *nm_mon_state(struct netmap_kring *kring)
{
	return rcu_dereference_protected(kring->mon,
					 lockdep_is_held(&netmap_lock));
}

/* A zero-copy link of @hook takes the buffers of @bk. netmap_lock held. */
static bool nm_mon_ztaken_by(struct netmap_kring *hook,
			     struct netmap_kring *bk)
{
	struct netmap_mon_kring *st = hook ? nm_mon_state(hook) : NULL;
	struct nm_mon_link *l;

	if (!st)
		return false;
	list_for_each_entry(l, &st->links, node)
		if (nm_mon_kind_zcopy(l->kind) && l->bk == bk)
			return true;
	return false;
}

/* Hook @l into its watched ring. netmap_lock held. */
static int nm_mon_attach(struct nm_mon_link *l)
{
	struct netmap_kring *pk = l->pk;
	struct netmap_mon_kring *st = nm_mon_state(pk), *fresh = NULL;
	unsigned long flags;

	if (nm_mon_kind_zcopy(l->kind) &&
	    (nm_mon_ztaken_by(l->bk, l->bk) ||
	     nm_mon_ztaken_by(l->bk->peer, l->bk)))
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
		rcu_assign_pointer(pk->mon, fresh);
		pk->nm_sync = nm_mon_sync;
		st = fresh;
	}
	switch (l->kind) {
	case NM_MON_COPY_RX:
		l->seen = pk->nr_hwtail;
		break;
	case NM_MON_ZFREE:
		l->seen = nm_next(pk->nr_hwtail, pk->num_slots);
		break;
	default:
		l->seen = pk->nr_hwcur;
		break;
	}
	list_add_tail_rcu(&l->node, &st->links);
	spin_unlock_irqrestore(&pk->lock, flags);
	return 0;
}

/*
 * Unhook @l; the last link gives the ring its own sync back, and its state
 * is freed by nm_mon_unlink() after a grace period.
 */
static void nm_mon_detach(struct nm_mon_link *l)
{
	struct netmap_kring *pk = l->pk;
	struct netmap_mon_kring *st = nm_mon_state(pk);
	unsigned long flags;

	spin_lock_irqsave(&pk->lock, flags);
	list_del_rcu(&l->node);
	if (list_empty(&st->links)) {
		pk->nm_sync = st->sync;
		RCU_INIT_POINTER(pk->mon, NULL);
		l->st_free = st;
	}
	spin_unlock_irqrestore(&pk->lock, flags);
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
	l->mon = mon;
	l->txmon = t == NM_TX ? NS_TXMON : 0;
	l->pk = pk;
	l->bk = pk;
	if (!mon->zcopy) {
		l->kind = t == NM_TX ? NM_MON_COPY_TX : NM_MON_COPY_RX;
	} else if (t == NM_RX) {
		l->kind = NM_MON_ZREL;
	} else {
		/* A pipe's tx ring shares its buffers with the rx ring it feeds. */
		if (pk->peer)
			l->bk = pk->peer;
		l->kind = NM_MON_ZFREE;
	}
}

/* Unhook the first @n links and free them. netmap_lock held. */
static void nm_mon_unlink(struct nm_mon_port *mon, u32 n)
{
	u32 i;

	lockdep_assert_held(&netmap_lock);
	for (i = 0; i < n; i++)
		nm_mon_detach(&mon->links[i]);
	if (n)
		synchronize_rcu();	/* no delivery sees a link any more */
	for (i = 0; i < n; i++)
		kfree(mon->links[i].st_free);
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

/**
 * netmap_monitor_parent_off() - a port leaves netmap mode
 * @port: the port, whose last binding is going; its rings still exist
 *
 * Its monitors are unhooked from its rings, and their rxsync fails from
 * now on. netmap_lock held.
 */
void netmap_monitor_parent_off(struct netmap_port *port)
{
	struct netmap_mon_kring *st;
	struct nm_mon_port *mon;
	enum nm_txrx t;
	u32 i, k;

	lockdep_assert_held(&netmap_lock);
	for_each_dir(t) {
		for (i = 0; i < netmap_port_nkrings(port, t); i++) {
			struct netmap_kring *kring = &port->krings[t][i];

			while ((st = nm_mon_state(kring))) {
				mon = list_first_entry(&st->links,
						       struct nm_mon_link,
						       node)->mon;
				WRITE_ONCE(mon->gone, true);
				nm_mon_unlink(mon, mon->nlinks);
				for (k = 0; k < netmap_port_nkrings(&mon->up,
								    NM_RX); k++)
					netmap_kring_wake(&mon->up.krings[NM_RX][k]);
			}
		}
	}
}

/* ---------------------------------------------------------------------- */
/* The monitor port                                                        */
/* ---------------------------------------------------------------------- */

/* A monitor cannot send. */
static int nm_mon_txsync(struct netmap_kring *kring)
{
	return kring->rhead != kring->nr_hwcur ? -EIO : 0;
}

/* The watched rings fill it (nm_mon_put_locked()); the sync releases. */
static int nm_mon_rxsync(struct netmap_kring *kring)
{
	if (READ_ONCE(nm_mon_port(kring->port)->gone))
		return -EIO;
	if (kring->rhead != kring->nr_hwcur)
		smp_store_release(&kring->nr_hwcur, kring->rhead);
	kring->nr_hwtail = smp_load_acquire(&kring->peer_tail);
	return 0;
}

static int nm_mon_activate(struct netmap_port *port)
{
	struct nm_mon_port *mon = nm_mon_port(port);
	int err;

	if (!mon->parent->users || mon->gone)
		return -EINVAL;
	err = netmap_port_rings_create(port);
	if (err)
		return err;
	err = nm_mon_link_all(mon);
	if (err)
		netmap_port_rings_delete(port);
	return err;
}

static void nm_mon_deactivate(struct netmap_port *port)
{
	struct nm_mon_port *mon = nm_mon_port(port);

	nm_mon_unlink(mon, mon->nlinks);
	netmap_port_rings_delete(port);
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

/* Whether @port is a zero-copy monitor (it cannot take offsets). */
bool netmap_monitor_is_zcopy(const struct netmap_port *port)
{
	return port->ops == &nm_mon_ops &&
	       container_of(port, struct nm_mon_port, up)->zcopy;
}

/* A new monitor of @parent, laid out as the module doc says. */
static struct nm_mon_port *nm_mon_new(struct netmap_port *parent,
				      const struct nmreq_register *reg)
{
	u32 hw = max(parent->nrings[NM_TX], parent->nrings[NM_RX]);
	u32 host = max(parent->nhost[NM_TX], parent->nhost[NM_RX]);
	u32 want[NM_NDIR] = { reg->nr_tx_slots, reg->nr_rx_slots };
	struct nm_mon_port *mon;
	struct netmap_mem *mem;
	enum nm_txrx t;
	int err;

	if (reg->nr_flags & NR_ZCOPY_MON) {
		mem = parent->mem;
		netmap_mem_get(mem);
	} else {
		mem = netmap_mem_new_private();
		if (IS_ERR(mem))
			return ERR_CAST(mem);
	}
	mon = kzalloc(sizeof(*mon), GFP_KERNEL);
	if (!mon) {
		netmap_mem_put(mem);
		return ERR_PTR(-ENOMEM);
	}
	netmap_port_init(&mon->up, &nm_mon_ops);
	spin_lock_init(&mon->lock);
	strscpy(mon->up.name, parent->name, sizeof(mon->up.name));
	mon->up.mem = mem;
	mon->up.host_rings = parent->host_rings;
	mon->up.nrings[NM_TX] = 1;
	mon->up.nrings[NM_RX] = hw;
	for_each_dir(t) {
		mon->up.nhost[t] = parent->host_rings ? host : 1;
		mon->up.nslots[t] = netmap_bound_value(want[t],
						       parent->nslots[t],
						       NM_MIN_SLOTS,
						       NM_MON_MAX_SLOTS);
	}
	mon->zcopy = reg->nr_flags & NR_ZCOPY_MON;
	if (reg->nr_flags & NR_MONITOR_TX)
		mon->dirs |= BIT(NM_TX);
	if (reg->nr_flags & NR_MONITOR_RX)
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
 * rings or not in netmap mode, a bad ring selection), -EOPNOTSUPP (a
 * ptnet guest port) or -ENOMEM.
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
	err = -EOPNOTSUPP;	/* a ptnet guest port: the host's rings, never */
	if (parent->pt_nifp)
		goto fail;
	err = -EINVAL;
	if (!parent->ops->activate || !parent->users)
		goto fail;
	mon = nm_mon_new(parent, reg);
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
