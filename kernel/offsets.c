// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Per-slot offsets: the OFFSETS option of REGISTER (abi-corrections.md
 * §5.1, "Option notes: OFFSETS").
 *
 * A ring bound with offsets has a mask (ring->offset_mask) and a maximum.
 * The packet of a slot then starts at its buffer plus (slot->ptr & mask);
 * slot->len counts from there, and offset + len must fit the buffer.
 *
 * The option, checked once the descriptor is bound (its rings known):
 *
 *   zero-copy monitor, ptnet guest port        EOPNOTSUPP
 *   nro_offset_bits > 64                       EINVAL
 *   nro_max_offset > the buffer size           EINVAL
 *   nro_max_offset above the mask of the bits  EINVAL (0 bits: 64)
 *   nro_initial_offset > nro_max_offset        EINVAL
 *   a bound ring already in use by another     EBUSY
 *   binding, with a mask or maximum that does
 *   not cover the new one
 *
 * The errno is the option's status and fails the request. On success the
 * rings this binding is the first user of take the mask (written to
 * ring->offset_mask), the maximum and the initial offset (written to the
 * ptr of each of their slots); rings already in use keep theirs, and the
 * maximum in force is written back to nro_max_offset. nro_tx_align and
 * nro_min_gap are not read.
 *
 * The data paths take a slot's offset through nm_slot_offset(): read once,
 * masked, clamped to the maximum. A tx slot whose offset is above the
 * maximum, or whose offset + len passes the end of its buffer, fails the
 * txsync like a bad length (ring.c); one rewritten after that check is
 * clamped and, when the frame no longer fits, dropped. A frame received
 * into an rx slot gets at most the room behind the slot's offset.
 * The offsets of a ring go away with its last binding.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/kernel.h>

#include "netmap_kern.h"

/*
 * The ring was just created or is getting its first binding (ring.c,
 * bind.c): no offsets until told.
 */
void netmap_offsets_reset(struct netmap_kring *kring)
{
	WRITE_ONCE(kring->offset_mask, 0);
	WRITE_ONCE(kring->offset_max, 0);
	if (kring->ring)
		WRITE_ONCE(kring->ring->offset_mask, 0);
}

static bool nm_port_offsets_ok(const struct netmap_port *port)
{
	return !port->pt_nifp && !netmap_monitor_is_zcopy(port);
}

static void nm_offsets_apply(struct netmap_kring *kring, u64 mask, u64 max,
			     u64 initial)
{
	struct netmap_slot *slot = nm_ring_slots(kring->ring);
	u32 i;

	WRITE_ONCE(kring->offset_max, max);
	WRITE_ONCE(kring->offset_mask, mask);
	WRITE_ONCE(kring->ring->offset_mask, mask);
	for (i = 0; i < kring->num_slots; i++)
		WRITE_ONCE(slot[i].ptr, initial);
}

static int nm_offsets_check(struct netmap_priv *priv,
			    const struct nmreq_opt_offsets *o, u64 *maskp)
{
	struct netmap_port *port = priv->bound;
	u32 bits = o->nro_offset_bits;
	u64 mask;
	enum nm_txrx t;
	u32 i;

	if (!nm_port_offsets_ok(port))
		return -EOPNOTSUPP;
	if (bits > 64)
		return -EINVAL;
	mask = bits && bits < 64 ? BIT_ULL(bits) - 1 : U64_MAX;
	if (o->nro_max_offset > port->mem->pools[NM_POOL_BUF].objsize ||
	    o->nro_max_offset > mask ||
	    o->nro_initial_offset > o->nro_max_offset)
		return -EINVAL;
	for_each_dir(t)
		for (i = priv->first[t]; i < priv->last[t]; i++) {
			struct netmap_kring *kring = &port->krings[t][i];

			if (kring->users > 1 &&
			    ((kring->offset_mask & mask) != mask ||
			     kring->offset_max < o->nro_max_offset))
				return -EBUSY;
		}
	*maskp = mask;
	return 0;
}

/**
 * netmap_offsets_register() - act on the OFFSETS option of a REGISTER
 * @priv: the descriptor, priv->lock held, just bound (not yet published)
 * @opt: the option; its status gets the errno on failure
 *
 * Return: 0, -EOPNOTSUPP, -EINVAL or -EBUSY.
 */
int netmap_offsets_register(struct netmap_priv *priv,
			    struct nmreq_option *opt)
{
	struct nmreq_opt_offsets *o = (struct nmreq_opt_offsets *)opt;
	struct netmap_port *port = priv->bound;
	u64 mask = 0, max = o->nro_max_offset;
	enum nm_txrx t;
	u32 i;
	int err;

	mutex_lock(&netmap_lock);
	err = nm_offsets_check(priv, o, &mask);
	if (!err)
		for_each_dir(t)
			for (i = priv->first[t]; i < priv->last[t]; i++) {
				struct netmap_kring *kring =
					&port->krings[t][i];

				if (kring->users == 1)
					nm_offsets_apply(kring, mask,
							 o->nro_max_offset,
							 o->nro_initial_offset);
				else
					max = kring->offset_max;
			}
	mutex_unlock(&netmap_lock);
	opt->nro_status = -err;
	if (!err)
		o->nro_max_offset = max;
	return err;
}
