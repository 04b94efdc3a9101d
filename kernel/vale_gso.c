// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * VALE offloads in software.
 *
 * A member whose frames carry a virtio-net header (PORT_HDR_SET 10 or 12)
 * may send frames that ask for an offload: a checksum to complete
 * (VIRTIO_NET_HDR_F_NEEDS_CSUM) or a segmentation (a gso_type other than
 * VIRTIO_NET_HDR_GSO_NONE). A member whose frames carry no header (a NIC,
 * or a port with header length 0) cannot be asked, so the switch does the
 * work while it copies the frame there, as the Linux stack would:
 *
 *   NEEDS_CSUM   the checksum of the bytes from csum_start to the end of
 *                the frame, stored at csum_start + csum_offset (where the
 *                sender left the pseudo-header sum)
 *   TCPV4,       TCP segments of gso_size bytes of payload, each with the
 *   TCPV6        frame's headers: IPv4 total length, id (one more per
 *                segment) and header checksum, or IPv6 payload length;
 *                TCP sequence number, FIN and PSH on the last segment
 *                only, CWR on the first only, and the checksum
 *   UDP (UFO)    one UDP datagram, its checksum computed over all of it,
 *                cut into IP fragments carrying gso_size bytes (rounded
 *                down to a multiple of 8) of IP payload each; IPv6
 *                fragments get a fragment header with a random
 *                identification. A datagram that fits in gso_size bytes
 *                stays whole.
 *   UDP_L4 (USO) UDP datagrams of gso_size bytes of payload each, each
 *                with its own length and checksum
 * The ECN bit of gso_type changes nothing.
 *
 * The work is done on the slot bytes, without socket buffers: each
 * segment goes into one slot of the destination ring, its headers made
 * from a copy of the frame's headers read once, its payload copied from
 * the source slots (an NS_MOREFRAG chain) and summed where it lands.
 * Checksums are computed from scratch over what was written, so a sender
 * that changes its buffers meanwhile only spoils its own frame.
 *
 * Everything the virtio-net header and the frame say is hostile. A frame
 * is dropped, and counted in the read-only module parameter
 * vale_offload_drops (once per destination), when:
 *   - gso_type is unknown, or gso_size is 0;
 *   - hdr_len, csum_start or csum_start + csum_offset + 2 pass the end of
 *     the frame;
 *   - for GSO: the headers are not Ethernet (with at most one VLAN tag),
 *     then IPv4 (not a fragment already) or IPv6 (without extension
 *     headers), then the TCP or UDP the gso_type names; NEEDS_CSUM names
 *     another checksum field than that header's; a segment would not fit
 *     in one buffer of the destination (gso_size too large for it); a UFO
 *     datagram is over 65535 bytes.
 * A frame with more segments than the destination ring has free slots is
 * dropped as a full ring drops frames, without counting it here.
 *
 * Context: the forwarding of a source ring (vale_fwd.c), any context.
 */
#include <linux/atomic.h>
#include <linux/etherdevice.h>
#include <linux/if_ether.h>
#include <linux/if_vlan.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/kernel.h>
#include <linux/moduleparam.h>
#include <linux/random.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <net/checksum.h>
#include <net/ip.h>
#include <net/ip6_checksum.h>
#include <net/ipv6.h>

#include "netmap_kern.h"
#include "vale_gso.h"

#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4	5	/* as in Linux 6.2's uapi */
#endif

#define VALE_GSO_HLEN	192	/* room for the headers of a frame */
#define VALE_FRAG_HLEN	8	/* an IPv6 fragment header */
#define VALE_TCP_FLAGS	13	/* offset of the flags byte in TCP */
#define VALE_TCP_FIN	0x01
#define VALE_TCP_PSH	0x08
#define VALE_TCP_CWR	0x80

/* ---------------------------------------------------------------------- */
/* The drop counter                                                        */
/* ---------------------------------------------------------------------- */

static atomic_t vale_offload_drops = ATOMIC_INIT(0);

static int vale_drops_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%d\n", atomic_read(&vale_offload_drops));
}

static int vale_drops_set(const char *val, const struct kernel_param *kp)
{
	return -EPERM;
}

static const struct kernel_param_ops vale_drops_ops = {
	.set = vale_drops_set,
	.get = vale_drops_get,
};

module_param_cb(vale_offload_drops, &vale_drops_ops, NULL, 0444);
MODULE_PARM_DESC(vale_offload_drops,
		 "frames VALE dropped for a virtio-net header it cannot honour (read-only)");

static void vale_offload_bad(void)
{
	atomic_inc(&vale_offload_drops);
}

/* ---------------------------------------------------------------------- */
/* The source frame                                                        */
/* ---------------------------------------------------------------------- */

/**
 * struct vale_src - the frame of a source packet, read in order
 * @mem: the source region
 * @frag: its slots; the frame starts @skip bytes into the first
 * @nfrags: how many
 * @skip: the virtio-net header before the frame
 * @k: the cursor: the slot it is in
 * @pos: and the offset in that slot
 */
struct vale_src {
	struct netmap_mem *mem;
	const struct vale_frag *frag;
	u32 nfrags;
	u32 skip;
	u32 k;
	u32 pos;
};

/* Put the cursor at byte @off of the frame. */
static void vale_src_seek(struct vale_src *s, u32 off)
{
	s->k = 0;
	s->pos = s->skip;
	while (s->k < s->nfrags && off >= s->frag[s->k].len - s->pos) {
		off -= s->frag[s->k].len - s->pos;
		s->k++;
		s->pos = 0;
	}
	s->pos += off;
}

/* The next bytes at the cursor: a contiguous piece of at most *@len. */
static const void *vale_src_piece(struct vale_src *s, u32 *len)
{
	const struct vale_frag *fr;

	while (s->k < s->nfrags && s->pos >= s->frag[s->k].len) {
		s->k++;
		s->pos = 0;
	}
	if (s->k == s->nfrags)
		return NULL;
	fr = &s->frag[s->k];
	*len = min(*len, fr->len - s->pos);
	return netmap_buf_chunk(s->mem, fr->idx, fr->off + s->pos, len);
}

/* Copy @len bytes from the cursor on into @dst. */
static bool vale_src_read(struct vale_src *s, void *dst, u32 len)
{
	while (len) {
		u32 n = len;
		const void *p = vale_src_piece(s, &n);

		if (!p)
			return false;
		memcpy(dst, p, n);
		dst += n;
		s->pos += n;
		len -= n;
	}
	return true;
}

/*
 * Copy @len bytes from the cursor on into buffer @idx of @dmem at @doff,
 * and add their sum, as the bytes at @at of the sum's sequence, to @sum.
 */
static bool vale_src_copy(struct vale_src *s, struct netmap_mem *dmem,
			  u32 idx, u32 doff, u32 len, __wsum *sum, u32 at)
{
	while (len) {
		u32 n = len;
		const void *p = vale_src_piece(s, &n);
		void *d;

		if (!p)
			return false;
		d = netmap_buf_chunk(dmem, idx, doff, &n);
		if (!d)
			return false;
		memcpy(d, p, n);
		*sum = csum_block_add(*sum, csum_partial(d, n, 0), at);
		at += n;
		s->pos += n;
		doff += n;
		len -= n;
	}
	return true;
}

/* ---------------------------------------------------------------------- */
/* The destination                                                         */
/* ---------------------------------------------------------------------- */

/**
 * struct vale_out - the slots segments go into
 * @dk: the destination ring
 * @ds: its slots
 * @mem: its region
 * @j: the first slot
 */
struct vale_out {
	struct netmap_kring *dk;
	struct netmap_slot *ds;
	struct netmap_mem *mem;
	u32 j;
};

/* The buffer of the @k-th slot from the first, read once, or -1. */
static s64 vale_out_buf(const struct vale_out *o, u32 k)
{
	u32 s = o->j + k, idx;

	if (s >= o->dk->num_slots)
		s -= o->dk->num_slots;
	idx = READ_ONCE(o->ds[s].buf_idx);
	if (idx < NM_RESERVED_BUFS || idx >= o->dk->nbufs)
		return -1;
	return idx;
}

static void vale_out_done(const struct vale_out *o, u32 k, u32 len)
{
	u32 s = o->j + k;

	if (s >= o->dk->num_slots)
		s -= o->dk->num_slots;
	o->ds[s].len = len;
	o->ds[s].flags = 0;
}

/* ---------------------------------------------------------------------- */
/* Headers                                                                 */
/* ---------------------------------------------------------------------- */

/**
 * struct vale_gso - a frame to segment
 * @h: its first bytes: all its headers
 * @len: its length
 * @l3: offset of the IP header
 * @l4: offset of the TCP or UDP header
 * @hlen: length of all the headers
 * @mss: gso_size
 * @type: gso_type without the ECN bit
 * @v6: IPv6, not IPv4
 * @tcp: TCP, not UDP
 */
struct vale_gso {
	u8 h[VALE_GSO_HLEN];
	u32 len;
	u32 l3;
	u32 l4;
	u32 hlen;
	u32 mss;
	u8 type;
	bool v6;
	bool tcp;
};

/* Read and check the headers of the frame at @s. */
static bool vale_gso_parse(struct vale_gso *g, struct vale_src *s,
			   const struct virtio_net_hdr *vh)
{
	u32 n = min_t(u32, g->len, sizeof(g->h)), ihl, doff, proto;
	u32 start = __virtio16_to_cpu(true, vh->csum_start);
	u32 offset = __virtio16_to_cpu(true, vh->csum_offset);
	u8 l4proto;

	g->type = vh->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
	switch (g->type) {
	case VIRTIO_NET_HDR_GSO_TCPV4:
	case VIRTIO_NET_HDR_GSO_TCPV6:
		g->tcp = true;
		break;
	case VIRTIO_NET_HDR_GSO_UDP:
	case VIRTIO_NET_HDR_GSO_UDP_L4:
		g->tcp = false;
		break;
	default:
		return false;
	}
	g->mss = __virtio16_to_cpu(true, vh->gso_size);
	if (!g->mss || __virtio16_to_cpu(true, vh->hdr_len) > g->len)
		return false;
	vale_src_seek(s, 0);
	if (n < ETH_HLEN || !vale_src_read(s, g->h, n))
		return false;

	g->l3 = ETH_HLEN;
	proto = get_unaligned_be16(g->h + 2 * ETH_ALEN);
	if (proto == ETH_P_8021Q || proto == ETH_P_8021AD) {
		if (n < VLAN_ETH_HLEN)
			return false;
		proto = get_unaligned_be16(g->h + ETH_HLEN + VLAN_HLEN - 2);
		g->l3 = VLAN_ETH_HLEN;
	}
	if (proto == ETH_P_IP) {
		if (g->l3 + sizeof(struct iphdr) > n || g->h[g->l3] >> 4 != 4)
			return false;
		ihl = (g->h[g->l3] & 0xf) * 4;
		if (ihl < sizeof(struct iphdr) || g->l3 + ihl > n)
			return false;
		if (get_unaligned_be16(g->h + g->l3 +
				       offsetof(struct iphdr, frag_off)) &
		    (IP_MF | IP_OFFSET))
			return false;	/* a fragment already */
		l4proto = g->h[g->l3 + offsetof(struct iphdr, protocol)];
		g->v6 = false;
		g->l4 = g->l3 + ihl;
	} else if (proto == ETH_P_IPV6) {
		if (g->l3 + sizeof(struct ipv6hdr) > n || g->h[g->l3] >> 4 != 6)
			return false;
		l4proto = g->h[g->l3 + offsetof(struct ipv6hdr, nexthdr)];
		g->v6 = true;
		g->l4 = g->l3 + sizeof(struct ipv6hdr);
	} else {
		return false;
	}
	if ((g->type == VIRTIO_NET_HDR_GSO_TCPV4 && g->v6) ||
	    (g->type == VIRTIO_NET_HDR_GSO_TCPV6 && !g->v6) ||
	    l4proto != (g->tcp ? IPPROTO_TCP : IPPROTO_UDP))
		return false;
	if (g->tcp) {
		if (g->l4 + sizeof(struct tcphdr) > n)
			return false;
		doff = (g->h[g->l4 + 12] >> 4) * 4;
		if (doff < sizeof(struct tcphdr) || g->l4 + doff > n)
			return false;
		g->hlen = g->l4 + doff;
	} else {
		if (g->l4 + sizeof(struct udphdr) > n)
			return false;
		g->hlen = g->l4 + sizeof(struct udphdr);
	}
	if ((vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    (start != g->l4 ||
	     offset != (g->tcp ? offsetof(struct tcphdr, check) :
				 offsetof(struct udphdr, check))))
		return false;
	return true;
}

/* The pseudo-header sum of the frame's addresses, folded with @sum. */
static __sum16 vale_pseudo(const struct vale_gso *g, u32 len, u8 proto,
			   __wsum sum)
{
	const u8 *ip = g->h + g->l3;
	struct in6_addr sa, da;

	if (!g->v6)
		return csum_tcpudp_magic(get_unaligned((__be32 *)
					(ip + offsetof(struct iphdr, saddr))),
					 get_unaligned((__be32 *)
					(ip + offsetof(struct iphdr, daddr))),
					 len, proto, sum);
	memcpy(&sa, ip + offsetof(struct ipv6hdr, saddr), sizeof(sa));
	memcpy(&da, ip + offsetof(struct ipv6hdr, daddr), sizeof(da));
	return csum_ipv6_magic(&sa, &da, len, proto, sum);
}

/*
 * The IP header of a segment in @h: @len bytes of IP payload (after the
 * IPv6 header, fragment header included); for IPv4 the id and, unless
 * @frag_off is negative, the fragment field.
 */
static void vale_ip_fix(const struct vale_gso *g, u8 *h, u32 len, u16 id,
			int frag_off)
{
	u8 *ip = h + g->l3;
	u32 ihl = g->l4 - g->l3;

	if (g->v6) {
		put_unaligned_be16(len, ip + offsetof(struct ipv6hdr,
						      payload_len));
		return;
	}
	put_unaligned_be16(ihl + len, ip + offsetof(struct iphdr, tot_len));
	put_unaligned_be16(id, ip + offsetof(struct iphdr, id));
	if (frag_off >= 0)
		put_unaligned_be16(frag_off,
				   ip + offsetof(struct iphdr, frag_off));
	put_unaligned(0, (__sum16 *)(ip + offsetof(struct iphdr, check)));
	put_unaligned(ip_fast_csum(ip, ihl / 4),
		      (__sum16 *)(ip + offsetof(struct iphdr, check)));
}

/* ---------------------------------------------------------------------- */
/* Segmentation                                                            */
/* ---------------------------------------------------------------------- */

/* TCP (TSO) and UDP (USO): @nseg segments, headers and all. */
static int vale_gso_l4(const struct vale_gso *g, struct vale_src *s,
		       const struct vale_out *o, u32 nseg)
{
	u32 payload = g->len - g->hlen, hl = g->hlen - g->l4, off = 0, k;
	u32 csum = g->l4 + (g->tcp ? offsetof(struct tcphdr, check) :
				     offsetof(struct udphdr, check));
	u8 proto = g->tcp ? IPPROTO_TCP : IPPROTO_UDP;
	u32 seq = get_unaligned_be32(g->h + g->l4 + 4);
	u16 id = g->v6 ? 0 :
		 get_unaligned_be16(g->h + g->l3 + offsetof(struct iphdr, id));
	u8 h[VALE_GSO_HLEN];

	vale_src_seek(s, g->hlen);
	for (k = 0; k < nseg; k++) {
		u32 plen = min(g->mss, payload - off), len = g->hlen + plen;
		s64 idx = vale_out_buf(o, k);
		__wsum sum = 0;
		__sum16 check;

		if (idx < 0)
			return -EINVAL;
		if (!vale_src_copy(s, o->mem, idx, g->hlen, plen, &sum, 0))
			return -ENOMEM;
		memcpy(h, g->h, g->hlen);
		vale_ip_fix(g, h, len - g->l4, id + k, -1);
		if (g->tcp) {
			u8 *fl = h + g->l4 + VALE_TCP_FLAGS;

			put_unaligned_be32(seq + off, h + g->l4 + 4);
			if (k + 1 < nseg)
				*fl &= ~(VALE_TCP_FIN | VALE_TCP_PSH);
			if (k)
				*fl &= ~VALE_TCP_CWR;
		} else {
			put_unaligned_be16(len - g->l4, h + g->l4 +
					   offsetof(struct udphdr, len));
		}
		put_unaligned(0, (__sum16 *)(h + csum));
		sum = csum_block_add(csum_partial(h + g->l4, hl, 0), sum, hl);
		check = vale_pseudo(g, len - g->l4, proto, sum);
		if (!g->tcp && !check)
			check = CSUM_MANGLED_0;
		put_unaligned(check, (__sum16 *)(h + csum));
		if (netmap_buf_write(o->mem, idx, 0, h, g->hlen))
			return -ENOMEM;
		vale_out_done(o, k, len);
		off += plen;
	}
	return nseg;
}

/*
 * UDP (UFO): one datagram in @nseg IP fragments of @fs bytes of IP
 * payload (the last one shorter); whole when @nseg is 1.
 */
static int vale_gso_ufo(const struct vale_gso *g, struct vale_src *s,
			const struct vale_out *o, u32 fs, u32 nseg)
{
	u32 data = g->len - g->l4, fh = 0, off, k, pos, first = 0;
	u16 id = g->v6 ? 0 :
		 get_unaligned_be16(g->h + g->l3 + offsetof(struct iphdr, id));
	u8 h[VALE_GSO_HLEN + VALE_FRAG_HLEN], udp[sizeof(struct udphdr)];
	struct frag_hdr fhdr = {};
	__wsum sum = 0;
	__sum16 check;

	if (nseg > 1 && g->v6) {
		fh = sizeof(fhdr);
		fhdr.nexthdr = IPPROTO_UDP;
		fhdr.identification = cpu_to_be32(get_random_u32());
	}
	pos = g->l4 + fh;	/* where the IP payload starts in a frame */
	vale_src_seek(s, g->hlen);
	for (k = 0, off = 0; k < nseg; k++, off += fs) {
		u32 flen = min(fs, data - off);
		bool more = k + 1 < nseg;
		s64 idx = vale_out_buf(o, k);
		bool ok;

		if (idx < 0)
			return -EINVAL;
		if (!k) {	/* the UDP header goes in at the end */
			first = idx;
			ok = vale_src_copy(s, o->mem, idx, pos + sizeof(udp),
					   flen - sizeof(udp), &sum, 0);
		} else {
			ok = vale_src_copy(s, o->mem, idx, pos, flen, &sum,
					   off - sizeof(udp));
		}
		if (!ok)
			return -ENOMEM;
		memcpy(h, g->h, g->l4);
		if (fh) {
			h[g->l3 + offsetof(struct ipv6hdr, nexthdr)] =
				NEXTHDR_FRAGMENT;
			fhdr.frag_off = cpu_to_be16(off | (more ? IP6_MF : 0));
			memcpy(h + g->l4, &fhdr, fh);
		}
		vale_ip_fix(g, h, fh + flen, id,
			    nseg > 1 ? (off >> 3) | (more ? IP_MF : 0) : -1);
		if (netmap_buf_write(o->mem, idx, 0, h, pos))
			return -ENOMEM;
		vale_out_done(o, k, pos + flen);
	}
	memcpy(udp, g->h + g->l4, sizeof(udp));
	put_unaligned_be16(data, udp + offsetof(struct udphdr, len));
	put_unaligned(0, (__sum16 *)(udp + offsetof(struct udphdr, check)));
	sum = csum_block_add(csum_partial(udp, sizeof(udp), 0), sum,
			     sizeof(udp));
	check = vale_pseudo(g, data, IPPROTO_UDP, sum) ?: CSUM_MANGLED_0;
	put_unaligned(check, (__sum16 *)(udp + offsetof(struct udphdr, check)));
	if (netmap_buf_write(o->mem, first, pos, udp, sizeof(udp)))
		return -ENOMEM;
	return nseg;
}

/**
 * vale_gso_segment() - segment a GSO frame into a ring without headers
 * @smem: the source region
 * @src: the source slots, checked
 * @nfrags: how many
 * @skip: the virtio-net header length of the source; @src[0].len >= @skip
 * @vh: the frame's virtio-net header (a copy), gso_type not NONE
 * @dk: the destination ring, its delivery lock held
 * @j: its first free slot
 * @room: its free slots from @j on
 *
 * Return: the slots filled from @j on, one per segment, or a negative
 * errno: -EINVAL for a frame that cannot be segmented (counted) or a bad
 * destination buffer, -ENOSPC when the segments do not fit in @room,
 * -ENOMEM when memory is short.
 */
int vale_gso_segment(struct netmap_mem *smem, const struct vale_frag *src,
		     u32 nfrags, u32 skip, const struct virtio_net_hdr *vh,
		     struct netmap_kring *dk, u32 j, u32 room)
{
	struct vale_src s = {
		.mem = smem,
		.frag = src,
		.nfrags = nfrags,
		.skip = skip,
	};
	struct vale_out o = {
		.dk = dk,
		.ds = nm_ring_slots(dk->ring),
		.mem = dk->port->mem,
		.j = j,
	};
	u32 total = 0, nseg, seg, fs = 0, k;
	struct vale_gso g;

	for (k = 0; k < nfrags; k++)
		total += src[k].len;
	if (!nfrags || src[0].len < skip)
		goto bad;
	g.len = total - skip;
	if (!vale_gso_parse(&g, &s, vh))
		goto bad;
	if (g.type == VIRTIO_NET_HDR_GSO_UDP) {
		u32 data = g.len - g.l4;

		if (data > U16_MAX)
			goto bad;
		if (data <= g.mss) {
			fs = data;
			nseg = 1;
			seg = g.len;
		} else {
			fs = round_down(g.mss, 8);
			if (!fs)
				goto bad;
			nseg = DIV_ROUND_UP(data, fs);
			seg = g.l4 + (g.v6 ? VALE_FRAG_HLEN : 0) + fs;
		}
	} else {
		u32 payload = g.len - g.hlen;

		nseg = payload ? DIV_ROUND_UP(payload, g.mss) : 1;
		seg = g.hlen + min(payload, g.mss);
	}
	if (seg > dk->buf_size)
		goto bad;
	if (nseg > room)
		return -ENOSPC;
	if (g.type == VIRTIO_NET_HDR_GSO_UDP)
		return vale_gso_ufo(&g, &s, &o, fs, nseg);
	return vale_gso_l4(&g, &s, &o, nseg);
bad:
	vale_offload_bad();
	return -EINVAL;
}

/* ---------------------------------------------------------------------- */
/* Checksum completion                                                     */
/* ---------------------------------------------------------------------- */

/* Write @len bytes at byte @at of the packet in @frag. */
static bool vale_frags_write(struct netmap_mem *mem,
			     const struct vale_frag *frag, u32 nfrags, u32 at,
			     const u8 *src, u32 len)
{
	u32 k, n;

	for (k = 0; k < nfrags && len; k++) {
		if (at >= frag[k].len) {
			at -= frag[k].len;
			continue;
		}
		n = min(len, frag[k].len - at);
		if (netmap_buf_write(mem, frag[k].idx, frag[k].off + at, src,
				     n))
			return false;
		src += n;
		len -= n;
		at = 0;
	}
	return !len;
}

/**
 * vale_csum_complete() - the checksum a NEEDS_CSUM frame asked for
 * @mem: the region of the packet
 * @frag: its slots, the frame from the first byte of the first one (no
 *	virtio-net header)
 * @nfrags: how many
 * @start: csum_start
 * @offset: csum_offset
 *
 * Sums the frame from @start to its end and stores the result at @start +
 * @offset. Offsets past the frame are counted in vale_offload_drops.
 *
 * Return: whether the checksum is in place.
 */
bool vale_csum_complete(struct netmap_mem *mem, const struct vale_frag *frag,
			u32 nfrags, u32 start, u32 offset)
{
	u32 total = 0, pos = 0, done = 0, k, from;
	__wsum sum = 0;
	__sum16 check;

	for (k = 0; k < nfrags; k++)
		total += frag[k].len;
	if (start >= total || offset > total - start ||
	    total - start - offset < sizeof(check)) {
		vale_offload_bad();
		return false;
	}
	for (k = 0; k < nfrags; pos += frag[k].len, k++) {
		if (pos + frag[k].len <= start)
			continue;
		for (from = start > pos ? start - pos : 0;
		     from < frag[k].len;) {
			u32 n = frag[k].len - from;
			void *p = netmap_buf_chunk(mem, frag[k].idx,
						   frag[k].off + from, &n);

			if (!p)
				return false;
			sum = csum_block_add(sum, csum_partial(p, n, 0), done);
			done += n;
			from += n;
		}
	}
	check = csum_fold(sum) ?: CSUM_MANGLED_0;
	return vale_frags_write(mem, frag, nfrags, start + offset,
				(const u8 *)&check, sizeof(check));
}
