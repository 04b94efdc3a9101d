// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * VALE forwarding: from a source ring into the destination rings of the
 * other members of the switch, by copy.
 *
 * A source ring is forwarded in batches of up to VALE_BATCH packets:
 *   1. collect: walk the slots, cut them into packets (NS_MOREFRAG chains
 *      of at most NM_MAX_FRAGS slots), learn each source MAC address
 *      (unless the first slot has NS_NO_LEARN) and look up each
 *      destination. Unicast to a known port goes on that port's list;
 *      broadcast, multicast and unknown unicast on the flood list.
 *   2. deliver: for each destination, lock its ring once, copy its packets
 *      (its list and the flood list merged, so that the order of the
 *      source is kept), publish the new slots, unlock, wake its pollers.
 * A packet that does not fit in a destination ring is dropped there: the
 * switch never holds the sender back. A trailing chain whose last slot
 * still has NS_MOREFRAG waits for its end; a longer chain than a packet
 * may be is dropped.
 *
 * Everything in the source and destination rings is hostile: buffer
 * indices and lengths are read once and checked before use, whatever the
 * sync prologue already checked. A bad packet is dropped.
 *
 * Offsets (offsets.c): a frame is read at its source slot's offset and
 * written at its destination slot's, each read once and clamped to the
 * ring's maximum. A source slot whose length passes the end of its buffer
 * behind its offset is dropped. A frame that fits behind its destination
 * slot's offset is copied there whole; otherwise (or when its header is
 * converted) each destination slot takes at most the bytes behind the
 * ring's maximum offset, and a frame whose new header does not fit there
 * is dropped. GSO segments are built at offset 0, so a GSO frame to a
 * ring whose maximum offset is not 0 is dropped.
 *
 * virtio-net headers: every member has a header length (0, 10 or 12) its
 * frames start with. Between members with different lengths the header
 * is converted: added (zeroed), removed, or its 12-byte form (the 10-byte
 * one plus num_buffers) made from or cut to the 10-byte one. Headers the
 * switch makes have num_buffers 1; between members with headers the
 * offload fields travel as they are. A frame going to a member without
 * headers gets what its header asks for done in software (vale_gso.c): a
 * GSO frame is segmented, one destination slot per segment, and a
 * NEEDS_CSUM frame gets its checksum completed; a header that asks for
 * something impossible drops the frame.
 *
 * Speed: a batch reads what it needs of each ring (offsets, buffer count
 * and size, the region's buffer pool) once, finds buffers through the
 * region's page table (netmap_bufs_at()), asks the learning table once per
 * run of frames between the same addresses, and copies a frame of one slot
 * in 64-bit words inline. None of it replaces a check: each slot's index,
 * length and offset are still read once and checked per frame.
 *
 * Context: a source ring's sync (its kring->lock held) or the switch's own
 * thread for a NIC (vale_nic.c), under rcu_read_lock().
 */
#include <linux/etherdevice.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/prefetch.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/virtio_net.h>
#include <net/checksum.h>

#include "vale.h"
#include "vale_gso.h"

#define VALE_NIL	0xffff		/* ends a list */
#define VALE_FLOOD	0xfffe		/* to every other member */
#define VALE_NOMAC	U64_MAX		/* no address (they have 48 bits) */
#define VALE_MAC_MASK	GENMASK_ULL(47, 0)

/**
 * struct vale_pkt - a packet of a batch
 * @data: the first fragment, when it is contiguous in the kernel
 * @slot: its slot in the source ring
 * @len: its length
 * @nfrags: slots of the packet
 * @dst: a member index or VALE_FLOOD
 * @next: next packet of the same list, VALE_NIL at the end
 */
struct vale_pkt {
	const u8 *data;
	u32 slot;
	u16 len;
	u16 nfrags;
	u16 dst;
	u16 next;
};

/**
 * struct vale_batch - the forwarding scratch of one source ring
 * @head: per member index, its list of unicast packets (VALE_NIL: none);
 *	all VALE_NIL between batches
 * @tail: the last packet of each list
 * @used: the member indices whose list is not empty
 * @pkt: the packets
 *
 * Serialised by the source ring's lock, or owned by the thread of a NIC.
 */
struct vale_batch {
	u16 head[VALE_PORTS_MAX];
	u16 tail[VALE_PORTS_MAX];
	u16 used[VALE_PORTS_MAX];
	struct vale_pkt pkt[VALE_BATCH];
};

/*
 * What the fast path needs of a ring, read once per batch: its slots,
 * buffer pool, offset mask and maximum, buffer count and size.
 */
struct vale_ring {
	struct netmap_slot *slot;
	struct netmap_bufs bufs;
	u64 omask;
	u64 omax;
	u32 nbufs;
	u32 bsize;
};

static void vale_ring_get(struct vale_ring *r, struct netmap_kring *kring)
{
	r->slot = nm_ring_slots(kring->ring);
	netmap_bufs_init(&r->bufs, kring->port->mem);
	r->omask = READ_ONCE(kring->offset_mask);
	r->omax = READ_ONCE(kring->offset_max);
	r->nbufs = kring->nbufs;
	r->bsize = kring->buf_size;
}

/* A slot's offset: its ptr read once, clamped to the ring's maximum. */
static u32 vale_ring_off(const struct vale_ring *r,
			 const struct netmap_slot *s)
{
	if (!r->omask)
		return 0;
	return min_t(u64, READ_ONCE(s->ptr) & r->omask, r->omax);
}

static bool vale_ring_buf_ok(const struct vale_ring *r, u32 idx)
{
	return idx >= NM_RESERVED_BUFS && idx < r->nbufs;
}

/*
 * One forwarding run: the source and the batch being built. @learnt and
 * @looked remember the learning table's last answers during the run, so
 * that a run of frames between the same two addresses costs one learning
 * and one lookup: @learnt is the last source address learned (VALE_NOMAC:
 * none), @looked the last destination looked up and @looked_port the
 * port it gave; learning a new address forgets @looked.
 */
struct vale_fwd {
	struct vale_member *src;
	struct vale_switch *sw;
	struct netmap_kring *kring;
	struct netmap_slot *slot;
	struct netmap_mem *mem;
	struct vale_ring r;
	u32 hdr_len;
	unsigned long now;
	unsigned long age;
	u64 learnt;
	u64 looked;
	int looked_port;
	struct vale_batch *b;
	u32 npkts;
	u16 nused;
	u16 bhead;
	u16 btail;
};

struct vale_batch *vale_batch_alloc(void)
{
	struct vale_batch *b = kvmalloc(sizeof(*b), GFP_KERNEL);

	if (b)
		memset(b->head, 0xff, sizeof(b->head));
	return b;
}

void vale_batch_free(struct vale_batch *b)
{
	kvfree(b);
}

static u32 vale_wrap(u32 i, u32 n)
{
	return i >= n ? i - n : i;
}

static bool vale_buf_ok(const struct netmap_kring *kring, u32 idx)
{
	return idx >= NM_RESERVED_BUFS && idx < kring->nbufs;
}

/* ---------------------------------------------------------------------- */
/* Collect                                                                 */
/* ---------------------------------------------------------------------- */

static void vale_list_add(struct vale_fwd *f, u16 i, u16 dst)
{
	struct vale_batch *b = f->b;

	if (dst == VALE_FLOOD) {
		if (f->bhead == VALE_NIL)
			f->bhead = i;
		else
			b->pkt[f->btail].next = i;
		f->btail = i;
	} else {
		if (b->head[dst] == VALE_NIL) {
			b->head[dst] = i;
			b->used[f->nused++] = dst;
		} else {
			b->pkt[b->tail[dst]].next = i;
		}
		b->tail[dst] = i;
	}
}

static void vale_learn(struct vale_fwd *f, u64 mac)
{
	if (mac == f->learnt)
		return;
	vale_fdb_learn(f->sw, mac, f->src->idx, f->now);
	f->learnt = mac;
	f->looked = VALE_NOMAC;
}

/* The group bit of an address as ether_addr_to_u64() gives it. */
static bool vale_mac_multicast(u64 mac)
{
	return mac & BIT_ULL(40);
}

static int vale_lookup(struct vale_fwd *f, u64 mac)
{
	if (mac != f->looked) {
		f->looked_port = vale_fdb_lookup(f->sw, mac, f->now, f->age);
		f->looked = mac;
	}
	return f->looked_port;
}

/*
 * Learn the source of the packet at @slot (its first slot's @flags read
 * by the caller) and choose its destination.
 */
static void vale_classify(struct vale_fwd *f, u32 slot, u32 nfrags,
			  u16 flags)
{
	const struct vale_ring *r = &f->r;
	struct netmap_slot *s = &r->slot[slot];
	u32 idx = READ_ONCE(s->buf_idx);
	u32 len = READ_ONCE(s->len);
	u32 soff = vale_ring_off(r, s);
	u32 min = f->hdr_len + ETH_HLEN, clen = len;
	struct vale_pkt *p;
	u64 dmac, smac;
	const u8 *eth;
	u8 *data;
	u16 dst;
	int d;

	if (unlikely(!vale_ring_buf_ok(r, idx) || len > r->bsize - soff ||
		     len < min))
		return;
	data = netmap_bufs_at(&r->bufs, idx, soff, &clen);
	if (unlikely(!data || clen < min))
		return;
	/* Both addresses in two loads inside the header's 14 bytes. */
	eth = data + f->hdr_len;
	dmac = get_unaligned_be64(eth) >> 16;
	smac = get_unaligned_be64(eth + 4) & VALE_MAC_MASK;
	if (!(flags & NS_NO_LEARN) && !vale_mac_multicast(smac))
		vale_learn(f, smac);
	if (vale_mac_multicast(dmac)) {
		dst = VALE_FLOOD;
	} else {
		d = vale_lookup(f, dmac);
		if (d == f->src->idx)
			return;		/* back where it came from */
		dst = d < 0 || d >= VALE_PORTS_MAX ? VALE_FLOOD : d;
	}
	p = &f->b->pkt[f->npkts];
	p->data = clen == len ? data : NULL;
	p->slot = slot;
	p->len = len;
	p->nfrags = nfrags;
	p->dst = dst;
	p->next = VALE_NIL;
	vale_list_add(f, f->npkts++, dst);
}

/*
 * Cut up to VALE_BATCH packets from the @left slots at @i into the batch.
 * Returns the slots taken (the batch's packets and dropped chains); an
 * incomplete chain at the end is not taken.
 */
static u32 vale_collect(struct vale_fwd *f, u32 i, u32 left)
{
	u32 n = f->kring->num_slots, used = 0;

	f->npkts = 0;
	f->nused = 0;
	f->bhead = VALE_NIL;
	f->btail = VALE_NIL;
	while (used < left && f->npkts < VALE_BATCH) {
		u32 j = i, k = 0;
		u16 flags, first;

		first = flags = READ_ONCE(f->slot[j].flags);
		for (;;) {
			j = nm_next(j, n);
			k++;
			if (!(flags & NS_MOREFRAG) || used + k >= left ||
			    k >= NM_MAX_FRAGS)
				break;
			flags = READ_ONCE(f->slot[j].flags);
		}
		if (flags & NS_MOREFRAG) {
			if (used + k == left && k < NM_MAX_FRAGS)
				break;	/* the rest is yet to come */
			/* Longer than a packet may be: dropped. */
		} else {
			vale_classify(f, i, k, first);
		}
		i = j;
		used += k;
	}
	return used;
}

/* ---------------------------------------------------------------------- */
/* Copy                                                                    */
/* ---------------------------------------------------------------------- */

/* Copy @len bytes between two buffers, page piece by page piece. */
static bool vale_buf_copy(struct netmap_mem *dmem, u32 didx, u32 doff,
			  struct netmap_mem *smem, u32 sidx, u32 soff, u32 len)
{
	while (len) {
		u32 dn = len, sn;
		void *d = netmap_buf_at(dmem, didx, doff, &dn);
		void *s;

		sn = dn;
		s = netmap_buf_at(smem, sidx, soff, &sn);
		if (!d || !s)
			return false;
		memcpy(d, s, sn);
		doff += sn;
		soff += sn;
		len -= sn;
	}
	return true;
}

/* What the destination's header becomes, and what must follow. */
struct vale_hdr_plan {
	u8 hdr[VALE_HDR_MAX];
	u32 skip;		/* source bytes replaced by @hdr */
	u32 len;		/* bytes of @hdr */
	bool gso;		/* segment the frame (@vh says how) */
	bool csum;		/* compute the checksum after the copy */
	u32 csum_start;
	u32 csum_offset;
	struct virtio_net_hdr vh;	/* the source's header */
};

/*
 * Plan the conversion of a @sh-byte header at the start of fragment @sf
 * (at least @sh bytes long) into a @dh-byte one. Returns false when the
 * frame cannot be delivered.
 */
static bool vale_hdr_plan(struct vale_fwd *f, const struct vale_frag *sf,
			  u32 sh, u32 dh, struct vale_hdr_plan *hp)
{
	struct virtio_net_hdr *vh = &hp->vh;

	memset(vh, 0, sizeof(*vh));
	hp->gso = false;
	hp->csum = false;
	if (sh == dh) {
		hp->skip = 0;
		hp->len = 0;
		return true;
	}
	hp->skip = sh;
	hp->len = dh;
	if (sh && netmap_buf_read(f->mem, sf->idx, sf->off, vh, sizeof(*vh)))
		return false;
	if (!dh) {
		if (vh->gso_type != VIRTIO_NET_HDR_GSO_NONE) {
			hp->gso = true;
		} else if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
			hp->csum = true;
			hp->csum_start = __virtio16_to_cpu(true,
							   vh->csum_start);
			hp->csum_offset = __virtio16_to_cpu(true,
							    vh->csum_offset);
		}
		return true;
	}
	memcpy(hp->hdr, vh, sizeof(*vh));
	if (dh == sizeof(struct virtio_net_hdr_mrg_rxbuf))
		put_unaligned_le16(1, hp->hdr + sizeof(*vh));
	return true;
}

/*
 * The general copy: fragments, header conversion, offloads, buffers of
 * different sizes. Each source fragment starts a new destination slot and
 * may take several; a GSO frame going to a member without headers takes
 * one slot per segment instead. Returns the slots used, 0 when the packet
 * was dropped.
 */
static u32 vale_copy_slow(struct vale_fwd *f, const struct vale_pkt *p,
			  struct netmap_kring *dk, u32 j, u32 room, u32 dh)
{
	struct netmap_slot *ds = nm_ring_slots(dk->ring);
	struct netmap_mem *dmem = dk->port->mem;
	u32 n = f->kring->num_slots, dn = dk->num_slots;
	u32 dmax = READ_ONCE(dk->offset_max), dcap = nm_buf_room(dk, dmax);
	struct vale_frag src[NM_MAX_FRAGS], dst[NM_MAX_FRAGS];
	struct vale_hdr_plan hp;
	u32 k, s, w, pos, need = 0;
	int ret;

	for (k = 0, s = p->slot; k < p->nfrags; k++, s = nm_next(s, n)) {
		u32 out;

		src[k].idx = READ_ONCE(f->slot[s].buf_idx);
		src[k].off = nm_slot_offset(f->kring, &f->slot[s]);
		src[k].len = READ_ONCE(f->slot[s].len);
		if (!vale_buf_ok(f->kring, src[k].idx) ||
		    src[k].len > nm_buf_room(f->kring, src[k].off))
			return 0;
		out = src[k].len;
		if (!k) {
			if (out < f->hdr_len)
				return 0;
			out = out - f->hdr_len + dh;
		}
		if (!dcap)
			return 0;
		need += out ? DIV_ROUND_UP(out, dcap) : 1;
	}
	if (!vale_hdr_plan(f, &src[0], f->hdr_len, dh, &hp))
		return 0;
	if (hp.gso) {
		if (dmax)
			return 0;	/* segments are built at offset 0 */
		ret = vale_gso_segment(f->mem, src, p->nfrags, f->hdr_len,
				       &hp.vh, dk, j, room);
		return ret > 0 ? ret : 0;
	}
	if (need > room || need > NM_MAX_FRAGS || hp.len > dcap)
		return 0;
	for (k = 0, s = j; k < need; k++, s = nm_next(s, dn)) {
		dst[k].idx = READ_ONCE(ds[s].buf_idx);
		dst[k].off = min(nm_slot_offset(dk, &ds[s]), dmax);
		if (!vale_buf_ok(dk, dst[k].idx))
			return 0;
	}

	w = 0;
	pos = 0;
	if (hp.len && netmap_buf_write(dmem, dst[0].idx, dst[0].off, hp.hdr,
				       hp.len))
		return 0;
	pos = hp.len;
	for (k = 0; k < p->nfrags; k++) {
		u32 off = k ? 0 : hp.skip, left = src[k].len - off;

		while (left) {
			u32 c;

			if (pos == dcap) {
				s = vale_wrap(j + w, dn);
				ds[s].len = pos;
				ds[s].flags = NS_MOREFRAG;
				dst[w++].len = pos;
				pos = 0;
			}
			c = min(left, dcap - pos);
			if (!vale_buf_copy(dmem, dst[w].idx, dst[w].off + pos,
					   f->mem, src[k].idx, src[k].off + off,
					   c))
				return 0;
			pos += c;
			off += c;
			left -= c;
		}
		s = vale_wrap(j + w, dn);
		ds[s].len = pos;
		ds[s].flags = k + 1 < p->nfrags ? NS_MOREFRAG : 0;
		dst[w++].len = pos;
		pos = 0;
	}
	if (hp.csum && !vale_csum_complete(dmem, dst, w, hp.csum_start,
					   hp.csum_offset))
		return 0;
	return need;
}

/*
 * Copy @len bytes, at least 8, in 64-bit words: whole 64-byte chunks,
 * then words, then one last word that ends at @len and may overlap the
 * one before. Not a byte outside [0, @len) of either side is touched.
 */
static __always_inline void vale_copy_words(u8 *d, const u8 *s, u32 len)
{
	u32 i = 0, k;

	for (; i + 64 <= len; i += 64)
		for (k = 0; k < 64; k += 8)
			put_unaligned(get_unaligned((const u64 *)(s + i + k)),
				      (u64 *)(d + i + k));
	for (; i + 8 <= len; i += 8)
		put_unaligned(get_unaligned((const u64 *)(s + i)),
			      (u64 *)(d + i));
	if (i < len)
		put_unaligned(get_unaligned((const u64 *)(s + len - 8)),
			      (u64 *)(d + len - 8));
}

/*
 * Copy one packet into slot @j on of @dk (@dr: its view). Returns the
 * slots used, or 0. The packets of the fast path are at least ETH_HLEN
 * long (vale_classify()).
 */
static u32 vale_copy(struct vale_fwd *f, const struct vale_pkt *p,
		     const struct vale_ring *dr, struct netmap_kring *dk,
		     u32 j, u32 room, u32 dh)
{
	struct netmap_slot *ds = dr->slot + j;
	u32 idx, doff, clen = p->len;
	void *dst;

	if (unlikely(p->nfrags != 1 || dh != f->hdr_len || !p->data ||
		     p->len > dr->bsize))
		return vale_copy_slow(f, p, dk, j, room, dh);
	idx = READ_ONCE(ds->buf_idx);
	doff = vale_ring_off(dr, ds);
	if (unlikely(!room || !vale_ring_buf_ok(dr, idx)))
		return 0;
	if (unlikely(p->len > dr->bsize - doff))
		return vale_copy_slow(f, p, dk, j, room, dh);
	dst = netmap_bufs_at(&dr->bufs, idx, doff, &clen);
	if (unlikely(!dst || clen < p->len))
		return vale_copy_slow(f, p, dk, j, room, dh);
	vale_copy_words(dst, p->data, p->len);
	ds->len = p->len;
	ds->flags = 0;
	return 1;
}

/* ---------------------------------------------------------------------- */
/* Deliver                                                                 */
/* ---------------------------------------------------------------------- */

/* Free slots of a destination ring. d->lock held. */
static u32 vale_dst_room(struct vale_member *m, struct vale_dst *d, u32 want)
{
	struct netmap_kring *dk = d->kring;
	u32 n = dk->num_slots;

	if (m->nic)
		return vale_nic_room(m, d, want);
	return n - 1 - nm_dist(smp_load_acquire(&dk->nr_hwcur), d->fill, n);
}

/*
 * Copy the packets of the lists @uh (unicast to @m) and @bh (flooded),
 * merged in source order, into @m's ring for our source ring.
 */
static void vale_deliver(struct vale_fwd *f, struct vale_member *m, u16 uh,
			 u16 bh)
{
	struct vale_dst *d = &m->dst[f->kring->ring_id % m->ndst];
	struct vale_pkt *pkt = f->b->pkt;
	u32 dh = READ_ONCE(m->hdr_len);
	struct netmap_kring *dk;
	struct vale_ring dr;
	u32 j, j0, n, room;

	spin_lock_bh(&d->lock);
	if (unlikely(!d->live)) {
		spin_unlock_bh(&d->lock);
		return;
	}
	dk = d->kring;
	vale_ring_get(&dr, dk);
	n = dk->num_slots;
	j = j0 = d->fill;
	room = vale_dst_room(m, d, f->npkts);
	while (uh != VALE_NIL || bh != VALE_NIL) {
		u32 used;
		u16 i;

		if (bh == VALE_NIL || (uh != VALE_NIL && uh < bh)) {
			i = uh;
			uh = pkt[i].next;
		} else {
			i = bh;
			bh = pkt[i].next;
		}
		if (i + 1 < f->npkts)
			prefetch(pkt[i + 1].data);
		used = vale_copy(f, &pkt[i], &dr, dk, j, room, dh);
		if (unlikely(!used)) {
			d->drops++;
			continue;
		}
		j = vale_wrap(j + used, n);
		room -= used;
	}
	if (j != j0) {
		if (m->nic) {
			vale_nic_push(m, d, j);
		} else {
			netmap_monitor_landed(dk, j0, j);
			smp_store_release(&d->fill, j);
		}
	}
	spin_unlock_bh(&d->lock);
	if (j != j0 && !m->nic)
		netmap_kring_wake(dk);
}

static struct vale_member *vale_member_rcu(struct vale_switch *sw, u32 i)
{
	return rcu_dereference(sw->members[i]);
}

static void vale_deliver_all(struct vale_fwd *f)
{
	struct vale_batch *b = f->b;
	struct vale_member *m;
	u32 k, d;

	if (f->bhead == VALE_NIL) {
		for (k = 0; k < f->nused; k++) {
			d = b->used[k];
			m = vale_member_rcu(f->sw, d);
			if (m)
				vale_deliver(f, m, b->head[d], VALE_NIL);
			b->head[d] = VALE_NIL;
		}
		return;
	}
	for (d = 0; d < READ_ONCE(f->sw->hi); d++) {
		if (d == f->src->idx)
			continue;
		m = vale_member_rcu(f->sw, d);
		if (m)
			vale_deliver(f, m, b->head[d], f->bhead);
	}
	for (k = 0; k < f->nused; k++)
		b->head[b->used[k]] = VALE_NIL;
}

/**
 * vale_forward() - forward the packets of a source ring
 * @src: the member the ring belongs to
 * @kring: the ring
 * @first: its first slot to forward
 * @avail: slots from @first on to forward
 * @b: the ring's scratch
 *
 * Caller holds rcu_read_lock() and owns the ring (its lock, or it is the
 * ring's only user).
 *
 * Return: the slots consumed from @first on; fewer than @avail when the
 * last packet is incomplete.
 */
u32 vale_forward(struct vale_member *src, struct netmap_kring *kring,
		 u32 first, u32 avail, struct vale_batch *b)
{
	struct vale_fwd f = {
		.src = src,
		.kring = kring,
		.slot = nm_ring_slots(kring->ring),
		.mem = kring->port->mem,
		.hdr_len = READ_ONCE(src->hdr_len),
		.now = jiffies,
		.age = READ_ONCE(vale_age.val) * HZ,
		.learnt = VALE_NOMAC,
		.looked = VALE_NOMAC,
		.b = b,
	};
	u32 n = kring->num_slots, done = 0;

	f.sw = rcu_dereference(src->sw);
	if (!f.sw)
		return avail;
	vale_ring_get(&f.r, kring);
	while (done < avail) {
		u32 used = vale_collect(&f, vale_wrap(first + done, n),
					avail - done);

		if (!used)
			break;
		vale_deliver_all(&f);
		done += used;
	}
	return done;
}

/* ---------------------------------------------------------------------- */
/* The syncs of VALE ports                                                 */
/* ---------------------------------------------------------------------- */

/*
 * Everything between hwcur and head goes out at once: into the switch, to
 * the netdev of a persistent port out of any switch, or nowhere. The
 * slots are free again as soon as the sync returns.
 */
int vale_txsync(struct netmap_kring *kring)
{
	struct vale_port *vp = vale_port_of(kring->port);
	u32 n = kring->num_slots, hwcur = kring->nr_hwcur;
	u32 avail = nm_dist(hwcur, kring->rhead, n), done = avail;

	if (avail) {
		rcu_read_lock();
		if (rcu_access_pointer(vp->m.sw))
			done = vale_forward(&vp->m, kring, hwcur, avail,
					    vp->batch[kring->ring_id]);
		else if (vp->netdev)
			done = vale_netdev_rx(vp, kring, hwcur, avail);
		rcu_read_unlock();
		kring->nr_hwcur = vale_wrap(hwcur + done, n);
	}
	kring->nr_hwtail = nm_back(kring->nr_hwcur, 1, n);
	return 0;
}

/* Give the released slots back to the deliveries; see what arrived. */
int vale_rxsync(struct netmap_kring *kring)
{
	struct vale_port *vp = vale_port_of(kring->port);
	struct vale_dst *d = &vp->m.dst[kring->ring_id];

	if (kring->rhead != kring->nr_hwcur)
		smp_store_release(&kring->nr_hwcur, kring->rhead);
	kring->nr_hwtail = smp_load_acquire(&d->fill);
	return 0;
}
