/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * Ring helpers shared by the tools that forward between netmap ports
 * (bridge and the network functions of nf.c): picking a tx ring with
 * room, and putting an rx slot's frame into a tx slot, by swapping the
 * buffers (zero copy, ports of one memory region) or by copying the bytes.
 */
#ifndef PTNET_TOOLS_RING_UTIL_H
#define PTNET_TOOLS_RING_UTIL_H

#include <stdint.h>

struct nm_port;
struct netmap_ring;
struct netmap_slot;

/*
 * A tx ring of p with a free slot, trying them round robin from *next_tx
 * (an index among p's bound tx rings, updated to the one returned), or
 * NULL when every one is full.
 */
struct netmap_ring *ring_tx_with_room(struct nm_port *p, unsigned int *next_tx);

/*
 * Put the frame of slot rs of rx into slot ts of tx: with zcopy, swap the
 * two buffers (both slots marked NS_BUF_CHANGED); otherwise copy len bytes,
 * cut to tx's buffer size. ts->flags gets rs's NS_MOREFRAG (and
 * NS_BUF_CHANGED); ts->len is left to the caller. Returns the bytes the
 * tx buffer holds of the frame: len, or the copy's cut length.
 */
uint16_t ring_slot_move(struct netmap_ring *rx, struct netmap_slot *rs,
			struct netmap_ring *tx, struct netmap_slot *ts,
			uint16_t len, int zcopy);

/*
 * Forward what the rx rings of src hold: move(link, rx, burst) on each
 * bound one, which returns the slots it took from rx, or -1 when the
 * destination filled up first. Returns the slots moved in all, or -1 when
 * frames are left (the destination is full: wait for POLLOUT on it).
 */
int ring_rx_forward(struct nm_port *src, unsigned int burst,
		    int (*move)(void *link, struct netmap_ring *rx,
				unsigned int burst),
		    void *link);

#endif /* PTNET_TOOLS_RING_UTIL_H */
