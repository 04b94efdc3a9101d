/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The CSB of a descriptor, as csb.c maps it and kloop.c uses it.
 */
#ifndef NETMAP_CSB_H
#define NETMAP_CSB_H

#include "netmap_kern.h"

/**
 * struct nm_csb_area - one pinned user array, mapped into the kernel
 * @pages: the user pages, pinned
 * @npages: how many
 * @vaddr: their kernel mapping (vmap)
 */
struct nm_csb_area {
	struct page **pages;
	unsigned int npages;
	void *vaddr;
};

/**
 * struct netmap_csb - the two arrays of a descriptor in CSB mode
 * @atok: application -> kernel entries, one per bound ring (hostile)
 * @ktoa: kernel -> application entries, one per bound ring
 * @nrings: entries in each array: bound tx rings, then bound rx rings
 * @area: the mappings behind @atok and @ktoa
 * @stop_pending: a SYNC_KLOOP_STOP came while no kloop ran on the
 *	descriptor; the next SYNC_KLOOP_START returns at once (priv->lock)
 *
 * Set up by NETMAP_REQ_CSB_ENABLE and kept until the descriptor unbinds
 * or enables another CSB; neither happens while a kloop runs. A pending
 * STOP goes with the CSB.
 */
struct netmap_csb {
	struct nm_csb_atok *atok;
	struct nm_csb_ktoa *ktoa;
	u32 nrings;
	struct nm_csb_area area[2];
	bool stop_pending;
};

u32 netmap_csb_nrings(const struct netmap_priv *priv);
struct netmap_kring *netmap_csb_kring(const struct netmap_priv *priv,
				      struct netmap_port *port, u32 k);

#endif /* NETMAP_CSB_H */
