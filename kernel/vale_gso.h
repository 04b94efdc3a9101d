/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * VALE offloads in software (vale_gso.c): what the virtio-net header of a
 * frame asks for, done by the switch when the frame goes to a member
 * whose frames carry no header (a NIC, or a port with header length 0).
 */
#ifndef NETMAP_VALE_GSO_H
#define NETMAP_VALE_GSO_H

#include <linux/types.h>
#include <linux/virtio_net.h>

struct netmap_kring;
struct netmap_mem;

/**
 * struct vale_frag - one slot of a packet, checked
 * @idx: its buffer, a valid index of the ring's region
 * @off: where its bytes start in the buffer (the slot's offset, bounded)
 * @len: its length; @off + @len is at most the buffer size
 */
struct vale_frag {
	u32 idx;
	u32 off;
	u32 len;
};

int vale_gso_segment(struct netmap_mem *smem, const struct vale_frag *src,
		     u32 nfrags, u32 skip, const struct virtio_net_hdr *vh,
		     struct netmap_kring *dk, u32 j, u32 room);
bool vale_csum_complete(struct netmap_mem *mem, const struct vale_frag *frag,
			u32 nfrags, u32 start, u32 offset);

#endif /* NETMAP_VALE_GSO_H */
