// SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause
/*
 * Ring helpers of the forwarding tools: see ring_util.h.
 */
#include <string.h>

#define NETMAP_WITH_LIBS
#include <net/netmap_user.h>

#include "ring_util.h"

struct netmap_ring *ring_tx_with_room(struct nm_port *p, unsigned int *next_tx)
{
	unsigned int first = p->rings.first_tx, last = p->rings.last_tx;
	unsigned int n, k;

	if (first > last)
		return NULL;
	n = last - first + 1;
	for (k = 0; k < n; k++) {
		unsigned int i = first + (*next_tx + k) % n;
		struct netmap_ring *r = nm_port_txring(p, i);

		if (!nm_ring_empty(r)) {
			*next_tx = (*next_tx + k) % n;
			return r;
		}
	}
	return NULL;
}

uint16_t ring_slot_move(struct netmap_ring *rx, struct netmap_slot *rs,
			struct netmap_ring *tx, struct netmap_slot *ts,
			uint16_t len, int zcopy)
{
	uint16_t more = rs->flags & NS_MOREFRAG;

	if (zcopy) {
		uint32_t idx = ts->buf_idx;

		ts->buf_idx = rs->buf_idx;
		rs->buf_idx = idx;
		ts->flags = more | NS_BUF_CHANGED;
		rs->flags |= NS_BUF_CHANGED;
		return len;
	}
	if (len > tx->nr_buf_size)
		len = (uint16_t)tx->nr_buf_size;
	memcpy(NETMAP_BUF(tx, ts->buf_idx), NETMAP_BUF(rx, rs->buf_idx), len);
	ts->flags = more;
	return len;
}

int ring_rx_forward(struct nm_port *src, unsigned int burst,
		    int (*move)(void *link, struct netmap_ring *rx,
				unsigned int burst),
		    void *link)
{
	unsigned int i;
	int moved = 0, full = 0;

	if (src->rings.first_rx > src->rings.last_rx)
		return 0;
	for (i = src->rings.first_rx; i <= src->rings.last_rx; i++) {
		struct netmap_ring *rx = nm_port_rxring(src, i);
		int m = move(link, rx, burst);

		if (m < 0 || !nm_ring_empty(rx))
			full = 1;
		if (m > 0)
			moved += m;
	}
	return full ? -1 : moved;
}
