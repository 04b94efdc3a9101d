// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Kernel rings: creation in a region, and the sync prologue and epilogue
 * that stand between userspace and a port's txsync/rxsync.
 *
 * Userspace owns the slots from head to tail - 1; the kernel owns the rest,
 * and one slot is always left empty so that head == tail means "nothing"
 * on both directions. A sync hands [hwcur, head) to the kernel: on tx,
 * slots to transmit; on rx, slots given back. The kernel then publishes a
 * new tail.
 *
 * Everything in the shared ring is hostile. The kernel keeps its own copy
 * of every value it relies on (num_slots, buffer geometry, the last valid
 * head, cur and tail) and reads head, cur and each slot it acts on once,
 * checking them before use. A bad ring gets -EINVAL and a reinit: head and
 * cur go back to the last valid head, tail to the last published tail.
 *
 * Locking: kring->lock (a spinlock) serialises the syncs and reinits of
 * one ring, whichever descriptor or thread asks for them. It is the
 * innermost netmap lock, and nothing sleeps under it. A port's sync may
 * touch its peer's ring without the peer's lock only through fields with a
 * single writer, published with release/acquire (see pipe.c).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/printk.h>
#include <linux/string.h>
#include <linux/ktime.h>

#include "netmap_kern.h"

/**
 * netmap_kring_init() - set up the kernel side of a ring, without memory
 * @kring: zeroed storage
 * @port: the owner
 * @t: NM_TX or NM_RX
 * @ring_id: index among @port's rings of direction @t
 * @num_slots: slots of the ring
 */
void netmap_kring_init(struct netmap_kring *kring, struct netmap_port *port,
		       enum nm_txrx t, u32 ring_id, u32 num_slots)
{
	kring->port = port;
	kring->tx = t;
	kring->ring_id = ring_id;
	kring->num_slots = num_slots;
	kring->nm_sync = t == NM_TX ? port->ops->txsync : port->ops->rxsync;
	spin_lock_init(&kring->lock);
	init_waitqueue_head(&kring->wq);
}

/* Pointers of an empty ring: a tx ring offers num_slots - 1 slots. */
static void nm_kring_reset_state(struct netmap_kring *kring)
{
	kring->nr_hwcur = 0;
	kring->nr_hwtail = kring->tx == NM_TX ? kring->num_slots - 1 : 0;
	kring->rhead = 0;
	kring->rcur = 0;
	kring->rtail = kring->nr_hwtail;
	kring->peer_tail = 0;
}

/*
 * Free the buffers of the first @nslots slots (none for a ring that
 * borrows its peer's) and the ring.
 */
static void nm_ring_free_locked(struct netmap_mem *mem,
				struct netmap_kring *kring, u32 nslots)
{
	struct netmap_slot *slot = nm_ring_slots(kring->ring);
	u32 i;

	for (i = 0; i < nslots && !kring->borrows; i++)
		netmap_obj_free_locked(mem, NM_POOL_BUF,
				       READ_ONCE(slot[i].buf_idx));
	netmap_obj_unmap_locked(mem, kring->ring);
	netmap_obj_free_locked(mem, NM_POOL_RING, kring->ring_idx);
	kring->ring = NULL;
}

static int nm_ring_create_locked(struct netmap_mem *mem,
				 struct netmap_kring *kring)
{
	struct netmap_ring *ring;
	int idx;
	u32 i;

	idx = netmap_obj_alloc_locked(mem, NM_POOL_RING);
	if (idx < 0)
		return idx;
	ring = netmap_obj_map_locked(mem, NM_POOL_RING, idx);
	if (!ring) {
		netmap_obj_free_locked(mem, NM_POOL_RING, idx);
		return -ENOMEM;
	}
	memset(ring, 0, sizeof(*ring));
	kring->ring = ring;
	kring->ring_idx = idx;
	for (i = 0; i < kring->num_slots; i++) {
		int b = kring->borrows ? 0 :
			netmap_obj_alloc_locked(mem, NM_POOL_BUF);

		if (b < 0) {
			nm_ring_free_locked(mem, kring, i);
			return b;
		}
		nm_ring_slots(ring)[i] = (struct netmap_slot){ .buf_idx = b };
	}
	kring->nbufs = mem->pools[NM_POOL_BUF].objtotal;
	kring->buf_size = mem->pools[NM_POOL_BUF].objsize;
	nm_kring_reset_state(kring);
	netmap_offsets_reset(kring);

	ring->buf_ofs = mem->pools[NM_POOL_BUF].offset -
			netmap_obj_offset(mem, NM_POOL_RING, idx);
	ring->num_slots = kring->num_slots;
	ring->nr_buf_size = kring->buf_size;
	ring->ringid = kring->ring_id;
	ring->dir = kring->tx == NM_TX ? NR_TX : NR_RX;
	ring->head = kring->rhead;
	ring->cur = kring->rcur;
	ring->tail = kring->rtail;
	return 0;
}

/* Free every ring of @port that has memory, with its buffers. mem locked. */
static void nm_port_rings_free_locked(struct netmap_port *port)
{
	enum nm_txrx t;
	u32 i;

	for_each_dir(t) {
		for (i = 0; i < netmap_port_nkrings(port, t); i++) {
			struct netmap_kring *kring = &port->krings[t][i];

			if (kring->ring)
				nm_ring_free_locked(port->mem, kring,
						    kring->num_slots);
		}
	}
}

/**
 * netmap_port_rings_create() - give every ring of a port its memory
 * @port: the port; netmap_lock held
 *
 * All or nothing: on failure no ring of @port has memory.
 *
 * Return: 0 or -ENOMEM.
 */
int netmap_port_rings_create(struct netmap_port *port)
{
	struct netmap_mem *mem = port->mem;
	u32 nbufs = 0, nrings = 0, i;
	enum nm_txrx t;
	int err = 0;

	lockdep_assert_held(&netmap_lock);
	for_each_dir(t) {
		if (port->nslots[t] > netmap_mem_max_slots(mem))
			return -EINVAL;
		nrings += netmap_port_nkrings(port, t);
		for (i = 0; i < netmap_port_nkrings(port, t); i++)
			if (!port->krings[t][i].borrows)
				nbufs += port->nslots[t];
	}
	netmap_mem_lock(mem);
	if (netmap_obj_free_count_locked(mem, NM_POOL_RING) < nrings ||
	    netmap_obj_free_count_locked(mem, NM_POOL_BUF) < nbufs) {
		err = -ENOMEM;
		goto out;
	}
	for_each_dir(t) {
		for (i = 0; i < netmap_port_nkrings(port, t); i++) {
			err = nm_ring_create_locked(mem, &port->krings[t][i]);
			if (err)
				goto undo;
		}
	}
	goto out;
undo:
	nm_port_rings_free_locked(port);
out:
	netmap_mem_unlock(mem);
	return err;
}

/**
 * netmap_port_rings_delete() - free the rings of a port and their buffers
 * @port: the port; netmap_lock held, no binding left on its rings
 *
 * The buffers freed are those the slots hold now, whatever userspace put
 * there; indices that are invalid or not allocated are skipped. A ring
 * that borrows its peer's buffers (a pipe's rx ring) frees none.
 */
void netmap_port_rings_delete(struct netmap_port *port)
{
	lockdep_assert_held(&netmap_lock);
	netmap_mem_lock(port->mem);
	nm_port_rings_free_locked(port);
	netmap_mem_unlock(port->mem);
}

/* Make the shared pointers agree with the kernel's. kring->lock held. */
static void nm_ring_reinit(struct netmap_kring *kring)
{
	struct netmap_ring *ring = kring->ring;

	kring->rcur = kring->rhead;
	WRITE_ONCE(ring->head, kring->rhead);
	WRITE_ONCE(ring->cur, kring->rhead);
	smp_store_release(&ring->tail, kring->rtail);
}

/**
 * netmap_kring_user_reset() - reinit the shared pointers of a ring
 * @kring: a ring with memory, about to get its first binding
 *
 * Whatever a previous user left in head, cur and tail is overwritten.
 */
void netmap_kring_user_reset(struct netmap_kring *kring)
{
	spin_lock(&kring->lock);
	nm_ring_reinit(kring);
	spin_unlock(&kring->lock);
}

/*
 * Check the slots the kernel is about to act on, [hwcur, head). A bad
 * buffer index is replaced by the reserved buffer 0, so the slot keeps
 * failing until userspace puts a real buffer back.
 */
static bool nm_slots_ok(struct netmap_kring *kring, u32 head)
{
	struct netmap_slot *slot = nm_ring_slots(kring->ring);
	bool tx = kring->tx == NM_TX;
	u32 n = kring->num_slots;
	u32 i;

	for (i = kring->nr_hwcur; i != head; i = nm_next(i, n)) {
		u32 idx = READ_ONCE(slot[i].buf_idx);

		if (unlikely(idx < NM_RESERVED_BUFS || idx >= kring->nbufs)) {
			WRITE_ONCE(slot[i].buf_idx, 0);
			pr_info_ratelimited("%s: %s ring %u: slot %u: bad buffer %u\n",
					    kring->port->name, tx ? "tx" : "rx",
					    kring->ring_id, i, idx);
			return false;
		}
		if (tx && unlikely(!nm_slot_fits(kring, READ_ONCE(slot[i].ptr),
						 READ_ONCE(slot[i].len)))) {
			pr_info_ratelimited("%s: tx ring %u: slot %u: bad offset or length\n",
					    kring->port->name, kring->ring_id,
					    i);
			return false;
		}
	}
	return true;
}

/*
 * Check head and cur, as read once by the caller. Both must lie in
 * [rhead, rtail], the range userspace owned after the previous sync
 * (cyclically), with cur not before head. Returns -ERANGE for bad
 * pointers, -EINVAL for bad slots. kring->lock held.
 */
static int nm_sync_check(struct netmap_kring *kring, u32 head, u32 cur)
{
	u32 n = kring->num_slots;

	if (unlikely(head >= n || cur >= n))
		return -ERANGE;
	if (unlikely(nm_dist(kring->rhead, head, n) >
		     nm_dist(kring->rhead, kring->rtail, n)))
		return -ERANGE;
	if (unlikely(nm_dist(head, cur, n) > nm_dist(head, kring->rtail, n)))
		return -ERANGE;
	if (unlikely(!nm_slots_ok(kring, head)))
		return -EINVAL;
	kring->rhead = head;
	kring->rcur = cur;
	return 0;
}

/* Read head and cur from the shared ring and check them. kring->lock held. */
static int nm_sync_prologue(struct netmap_kring *kring)
{
	struct netmap_ring *ring = kring->ring;
	u32 head = READ_ONCE(ring->head);
	u32 cur = READ_ONCE(ring->cur);
	int err = nm_sync_check(kring, head, cur);

	if (likely(err != -ERANGE))
		return err;
	pr_info_ratelimited("%s: %s ring %u: bad pointers head %u cur %u (hwcur %u tail %u)\n",
			    kring->port->name,
			    kring->tx == NM_TX ? "tx" : "rx", kring->ring_id,
			    head, cur, kring->nr_hwcur, kring->rtail);
	return -EINVAL;
}

static void nm_sync_epilogue(struct netmap_kring *kring)
{
	struct netmap_ring *ring = kring->ring;

	kring->rtail = kring->nr_hwtail;
	smp_store_release(&ring->tail, kring->rtail);
	if (unlikely(READ_ONCE(ring->flags) & NR_TIMESTAMP)) {
		struct timespec64 ts;

		ktime_get_real_ts64(&ts);
		ring->ts.tv_sec = ts.tv_sec;
		ring->ts.tv_usec = ts.tv_nsec / NSEC_PER_USEC;
	}
}

/**
 * netmap_kring_sync() - validate a ring and run its port's sync
 * @kring: a bound ring
 *
 * Return: 0, or -EINVAL after a reinit when userspace left the ring in a
 * bad state, -EBUSY when the ring is driven from a CSB (kloop.c), or the
 * port's error.
 */
int netmap_kring_sync(struct netmap_kring *kring)
{
	int err;

	spin_lock(&kring->lock);
	if (unlikely(kring->csb)) {
		/* A kloop drives the ring; the shared header is not ours. */
		spin_unlock(&kring->lock);
		return -EBUSY;
	}
	err = nm_sync_prologue(kring);
	if (likely(!err))
		err = kring->nm_sync(kring);
	if (likely(!err))
		nm_sync_epilogue(kring);
	else
		nm_ring_reinit(kring);
	spin_unlock(&kring->lock);
	return err;
}

/**
 * netmap_kring_sync_ptrs() - run a ring's sync on pointers from elsewhere
 * @kring: a bound ring whose pointers travel through a CSB (csb.c)
 * @head: the application's head, read once and not yet checked
 * @cur: the application's cur, likewise
 * @hwcur: the ring's hwcur afterwards, to publish
 * @hwtail: the tail to publish afterwards
 *
 * The same checks and sync as netmap_kring_sync(), except that the shared
 * ring header (head, cur, tail, flags, ts) belongs to someone else (a
 * guest) and is neither read nor written. When the pointers or the slots
 * are bad, the kernel's view is reset to the last valid head and the
 * caller republishes @hwcur and @hwtail, which stay consistent.
 *
 * Never sleeps: callable with IRQs disabled when the port's syncs allow
 * it (netmap_port_ops.irqsafe_sync).
 *
 * Return: 0; -ERANGE for bad pointers; -EINVAL for bad slots; or the
 * port's error.
 */
int netmap_kring_sync_ptrs(struct netmap_kring *kring, u32 head, u32 cur,
			   u32 *hwcur, u32 *hwtail)
{
	int err;

	spin_lock(&kring->lock);
	err = nm_sync_check(kring, head, cur);
	if (likely(!err))
		err = kring->nm_sync(kring);
	if (likely(!err))
		kring->rtail = kring->nr_hwtail;
	else
		kring->rcur = kring->rhead;
	*hwcur = kring->nr_hwcur;
	*hwtail = kring->rtail;
	spin_unlock(&kring->lock);
	return err;
}
