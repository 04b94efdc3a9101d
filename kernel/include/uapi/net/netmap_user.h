/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * ptnet: user-space helpers for the netmap ABI (API 14).
 *
 * Always available: the macros that locate the netmap_if, the rings and
 * the buffers in the mapped region, and small inline ring helpers.
 *
 * With NETMAP_WITH_LIBS defined before inclusion, also:
 *  - the classic descriptor API (struct nm_desc, nm_open, nm_close,
 *    nm_mmap, nm_inject, nm_dispatch, nm_nextpkt). nm_open registers with
 *    the legacy NIOCREGIF request, so stock QEMU's netmap backend and other
 *    programs written for it build unchanged;
 *  - a port API on NIOCCTRL (struct nm_port, nm_port_open and friends);
 *  - the parser of port specs shared by both (nm_spec_parse).
 *
 * Port spec grammar, as accepted by nm_spec_parse():
 *
 *   spec     := ["netmap:"] IF [pipe] [rings] item*
 *             | "val" S ":" P [pipe] [rings] item*
 *   pipe     := "{" ID         master end of pipe ID
 *             | "}" ID         slave end of pipe ID
 *   rings    := "^"            host rings only            (NR_REG_SW)
 *             | "^" N          host ring pair N           (NR_REG_ONE_SW)
 *             | "*"            hardware and host rings    (NR_REG_NIC_SW)
 *             | "-" N          hardware ring pair N       (NR_REG_ONE_NIC)
 *   item     := "/" flag+      x exclusive, z zero-copy monitor, t/r tx/rx
 *                              copy monitor, R rx rings only, T tx rings only
 *             | "@" N          memory region id
 *             | "@conf:" key "=" N ("," key "=" N)*
 *                              keys: rings tx-rings rx-rings host-rings
 *                              host-tx-rings host-rx-rings slots tx-slots
 *                              rx-slots
 *
 * The "netmap:" prefix is stripped; a VALE name (every name that starts
 * with "val", as the kernel has it: "valS:P", S in [0-9A-Za-z_]*, P in
 * [0-9A-Za-z_]+ here) is kept whole. The pipe suffix stays
 * in the port name the kernel sees ("pipeA{1"), with NR_REG_ALL_NIC (or
 * NR_REG_ONE_NIC with "-N"), for both NIOCCTRL and NIOCREGIF.
 *
 * A pipe ID is any non-empty run of characters up to the next ^ * - @ or /
 * ("pipe{1}2" is the master end of pipe "1}2"), as long as the kernel, which
 * takes the last '{' of a name, else its last '}', finds the same parent:
 * no '{' in the ID, and no '}' either in the ID of a slave end.
 */
#ifndef _UAPI_NET_NETMAP_USER_H
#define _UAPI_NET_NETMAP_USER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "netmap.h"

#define NETMAP_DEVICE_NAME	"/dev/netmap"

#ifndef likely
#define likely(x)		__builtin_expect(!!(x), 1)
#define unlikely(x)		__builtin_expect(!!(x), 0)
#endif

/* (type)(base + ofs), for objects of the mapped region */
#define NM_PTR_AT(type, base, ofs) \
	((type)(void *)((char *)(base) + (ofs)))

/* The netmap_if of a port: the region's base plus nr_offset. */
#define NETMAP_IF(base, ofs)	NM_PTR_AT(struct netmap_if *, base, ofs)

/* tx ring i: hardware tx rings first, then the host tx rings */
#define NETMAP_TXRING(nifp, i) \
	NM_PTR_AT(struct netmap_ring *, nifp, (nifp)->ring_ofs[(i)])

/* rx ring i: hardware rx rings first, then the host rx rings */
#define NETMAP_RXRING(nifp, i) \
	NM_PTR_AT(struct netmap_ring *, nifp, \
		  (nifp)->ring_ofs[(i) + (nifp)->ni_tx_rings + \
				   (nifp)->ni_host_tx_rings])

/* Address of buffer idx, and back. */
#define NETMAP_BUF(ring, idx) \
	((char *)(ring) + (ring)->buf_ofs + \
	 (uint64_t)(idx) * (ring)->nr_buf_size)

#define NETMAP_BUF_IDX(ring, buf) \
	((uint32_t)(((char *)(buf) - ((char *)(ring) + (ring)->buf_ofs)) / \
		    (ring)->nr_buf_size))

/* The slot after i. */
static inline uint32_t nm_ring_next(const struct netmap_ring *ring, uint32_t i)
{
	return unlikely(i + 1 == ring->num_slots) ? 0 : i + 1;
}

/* The slot before i. */
static inline uint32_t nm_ring_prev(const struct netmap_ring *ring, uint32_t i)
{
	return unlikely(i == 0) ? ring->num_slots - 1 : i - 1;
}

/* Slots owned by the application: from head up to tail. */
static inline uint32_t nm_ring_space(const struct netmap_ring *ring)
{
	uint32_t head = ring->head, tail = ring->tail;

	return tail >= head ? tail - head : tail + ring->num_slots - head;
}

/* True when cur has reached tail: nothing left to use before a sync. */
static inline int nm_ring_empty(const struct netmap_ring *ring)
{
	return ring->cur == ring->tail;
}

/* True while slots handed to the kernel for tx have not completed. */
static inline int nm_tx_pending(const struct netmap_ring *ring)
{
	return nm_ring_next(ring, ring->tail) != ring->head;
}

/* Hand slots head..i-1 to the kernel at the next sync, and wake at i. */
static inline void nm_ring_advance(struct netmap_ring *ring, uint32_t i)
{
	ring->head = ring->cur = i;
}

/* Copy a packet between buffers (they never overlap). */
static inline void nm_pkt_copy(const void *src, void *dst, int len)
{
	if (likely(len > 0))
		memcpy(dst, src, (size_t)len);
}

#ifdef NETMAP_WITH_LIBS

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

#ifdef O_CLOEXEC
#define NM_OPEN_FLAGS		(O_RDWR | O_CLOEXEC)
#else
#define NM_OPEN_FLAGS		O_RDWR
#endif

/* ---------------------------------------------------------------------- */
/* Port specs                                                              */
/* ---------------------------------------------------------------------- */

#define NM_SPEC_ERRLEN		128

/* What a port spec asks for. A zero count means "the default". */
struct nm_spec {
	char name[NETMAP_REQ_IFNAMSIZ];	/* nr_name: prefix stripped */
	int vale;			/* name is a VALE port */
	char pipe;			/* '{', '}' or 0 */
	char pipe_id[NETMAP_REQ_IFNAMSIZ];	/* the ID after it */
	uint32_t mode;			/* NR_REG_* */
	uint16_t ringid;		/* for ONE_NIC and ONE_SW */
	uint16_t mem_id;
	uint64_t flags;			/* NR_EXCLUSIVE, NR_*_RINGS_ONLY, ... */
	uint32_t tx_slots, rx_slots;
	uint16_t tx_rings, rx_rings;
	uint16_t host_tx_rings, host_rx_rings;
};

static inline int nm_spec_fail(char *err, size_t errlen, const char *spec,
			       const char *why)
{
	if (err && errlen)
		snprintf(err, errlen, "invalid port spec '%s': %s", spec, why);
	errno = EINVAL;
	return -1;
}

static inline int nm_spec_isword(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || c == '_';
}

static inline int nm_spec_isdigit(char c)
{
	return c >= '0' && c <= '9';
}

/* Parse a decimal at *pp into *val (at most max); advance *pp. */
static inline int nm_spec_num(const char **pp, uint32_t max, uint32_t *val)
{
	const char *p = *pp;
	uint64_t v = 0;

	if (!nm_spec_isdigit(*p))
		return -1;
	while (nm_spec_isdigit(*p)) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > max)
			return -1;
		p++;
	}
	*pp = p;
	*val = (uint32_t)v;
	return 0;
}

/* The @conf: keys: which count they set, for tx, rx or both. */
enum { NM_CONF_RINGS, NM_CONF_HOST_RINGS, NM_CONF_SLOTS };

struct nm_conf_key {
	const char *key;
	int what;			/* NM_CONF_* */
	int dirs;			/* 1 tx, 2 rx, 3 both */
};

static inline void nm_spec_conf_set(struct nm_spec *s, int what, int dirs,
				    uint32_t v)
{
	switch (what) {
	case NM_CONF_RINGS:
		if (dirs & 1)
			s->tx_rings = (uint16_t)v;
		if (dirs & 2)
			s->rx_rings = (uint16_t)v;
		break;
	case NM_CONF_HOST_RINGS:
		if (dirs & 1)
			s->host_tx_rings = (uint16_t)v;
		if (dirs & 2)
			s->host_rx_rings = (uint16_t)v;
		break;
	default:
		if (dirs & 1)
			s->tx_slots = v;
		if (dirs & 2)
			s->rx_slots = v;
		break;
	}
}

/* "@conf:" key=N,key=N... (*pp is past the colon); advance *pp. */
static inline int nm_spec_conf(const char **pp, struct nm_spec *s)
{
	static const struct nm_conf_key keys[] = {
		{ "rings", NM_CONF_RINGS, 3 },
		{ "tx-rings", NM_CONF_RINGS, 1 },
		{ "rx-rings", NM_CONF_RINGS, 2 },
		{ "host-rings", NM_CONF_HOST_RINGS, 3 },
		{ "host-tx-rings", NM_CONF_HOST_RINGS, 1 },
		{ "host-rx-rings", NM_CONF_HOST_RINGS, 2 },
		{ "slots", NM_CONF_SLOTS, 3 },
		{ "tx-slots", NM_CONF_SLOTS, 1 },
		{ "rx-slots", NM_CONF_SLOTS, 2 },
	};
	const char *p = *pp;

	for (;;) {
		const struct nm_conf_key *k = NULL;
		size_t i, n = 0;
		uint32_t v;

		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			n = strlen(keys[i].key);
			if (strncmp(p, keys[i].key, n) == 0 && p[n] == '=') {
				k = &keys[i];
				break;
			}
		}
		if (!k)
			return -1;
		p += n + 1;
		if (nm_spec_num(&p, k->what == NM_CONF_SLOTS ? 0xffffffffu :
				0xffff, &v))
			return -1;
		nm_spec_conf_set(s, k->what, k->dirs, v);
		if (*p != ',')
			break;
		p++;
	}
	*pp = p;
	return 0;
}

/*
 * Parse a port spec (grammar at the top of this file) into *s.
 * Returns 0, or -1 with errno = EINVAL and a message in err.
 */
static inline int nm_spec_parse(const char *spec, struct nm_spec *s,
				char *err, size_t errlen)
{
	const char *p = spec, *start;
	size_t n;
	uint32_t v;

	memset(s, 0, sizeof(*s));
	s->mode = NR_REG_ALL_NIC;
	if (!spec || !*spec)
		return nm_spec_fail(err, errlen, "", "empty name");
	if (strncmp(p, "netmap:", 7) == 0)
		p += 7;
	start = p;
	if (strncmp(p, NM_BDG_NAME, 3) == 0) {
		/* every name that starts with "val" is a VALE name, valS:P */
		p += 3;
		while (nm_spec_isword(*p))
			p++;
		if (*p != ':')
			return nm_spec_fail(err, errlen, spec,
					    "VALE name (val...) not valS:P, S in [0-9A-Za-z_]*");
		p++;
		if (!nm_spec_isword(*p))
			return nm_spec_fail(err, errlen, spec,
					    "port name must be [0-9A-Za-z_]+");
		while (nm_spec_isword(*p))
			p++;
		if (p - start >= NM_IFNAMSIZ)
			return nm_spec_fail(err, errlen, spec,
					    "VALE name too long");
		s->vale = 1;
	} else {
		while (*p && !strchr("{}^*-@/:", *p))
			p++;
		if (*p == ':')
			return nm_spec_fail(err, errlen, spec,
					    "unknown prefix (netmap: or vale)");
	}
	if (p == start)
		return nm_spec_fail(err, errlen, spec, "empty port name");

	/* pipe end */
	if (*p == '{' || *p == '}') {
		const char *id;

		s->pipe = *p++;
		for (id = p; *p && !strchr("^*-@/", *p); p++)
			if (*p == '{' || (*p == '}' && s->pipe == '}'))
				return nm_spec_fail(err, errlen, spec,
						    "a pipe's parent cannot be a pipe end");
		if (p == id)
			return nm_spec_fail(err, errlen, spec,
					    "a pipe id must follow { or }");
		n = (size_t)(p - id);
		if (n >= sizeof(s->pipe_id))
			return nm_spec_fail(err, errlen, spec,
					    "pipe id too long");
		memcpy(s->pipe_id, id, n);
		s->pipe_id[n] = '\0';
	}
	n = (size_t)(p - start);
	if (n >= sizeof(s->name))
		return nm_spec_fail(err, errlen, spec, "port name too long");
	memcpy(s->name, start, n);
	s->name[n] = '\0';

	/* ring selector */
	if (*p == '^') {
		p++;
		if (nm_spec_isdigit(*p)) {
			if (nm_spec_num(&p, NETMAP_RING_MASK, &v))
				return nm_spec_fail(err, errlen, spec,
						    "bad host ring number");
			s->mode = NR_REG_ONE_SW;
			s->ringid = (uint16_t)v;
		} else {
			s->mode = NR_REG_SW;
		}
	} else if (*p == '*') {
		p++;
		s->mode = NR_REG_NIC_SW;
	} else if (*p == '-') {
		p++;
		if (nm_spec_num(&p, NETMAP_RING_MASK, &v))
			return nm_spec_fail(err, errlen, spec,
					    "bad ring number after -");
		s->mode = NR_REG_ONE_NIC;
		s->ringid = (uint16_t)v;
	}
	if (s->pipe && s->mode != NR_REG_ALL_NIC && s->mode != NR_REG_ONE_NIC)
		return nm_spec_fail(err, errlen, spec,
				    "a pipe end has no host rings");

	/* flags, memory id, options */
	while (*p) {
		if (*p == '/') {
			if (!p[1])
				return nm_spec_fail(err, errlen, spec,
						    "no flags after /");
			for (p++; *p && *p != '@' && *p != '/'; p++) {
				switch (*p) {
				case 'x':
					s->flags |= NR_EXCLUSIVE;
					break;
				case 'z':
					s->flags |= NR_ZCOPY_MON;
					break;
				case 't':
					s->flags |= NR_MONITOR_TX;
					break;
				case 'r':
					s->flags |= NR_MONITOR_RX;
					break;
				case 'R':
					s->flags |= NR_RX_RINGS_ONLY;
					break;
				case 'T':
					s->flags |= NR_TX_RINGS_ONLY;
					break;
				default:
					return nm_spec_fail(err, errlen, spec,
							    "unknown flag after /");
				}
			}
		} else if (*p == '@' && nm_spec_isdigit(p[1])) {
			p++;
			if (nm_spec_num(&p, 0xffff, &v) || v == 0)
				return nm_spec_fail(err, errlen, spec,
						    "bad memory id after @");
			s->mem_id = (uint16_t)v;
		} else if (*p == '@' && strncmp(p, "@conf:", 6) == 0) {
			p += 6;
			if (nm_spec_conf(&p, s) || (*p && *p != '@' && *p != '/'))
				return nm_spec_fail(err, errlen, spec,
						    "bad @conf: option");
		} else if (*p == '@') {
			return nm_spec_fail(err, errlen, spec,
					    "unsupported @ option");
		} else {
			return nm_spec_fail(err, errlen, spec,
					    "unexpected characters");
		}
	}
	if ((s->flags & NR_RX_RINGS_ONLY) && (s->flags & NR_TX_RINGS_ONLY))
		return nm_spec_fail(err, errlen, spec, "both R and T given");
	return 0;
}

/*
 * The rings a binding covers, as inclusive index ranges for NETMAP_TXRING
 * and NETMAP_RXRING (hardware rings first, then host rings). An empty
 * range has first == 1 and last == 0, so "for (i = first; i <= last; i++)"
 * does nothing.
 */
struct nm_ring_range {
	uint16_t first_tx, last_tx;
	uint16_t first_rx, last_rx;
};

static inline void nm_ring_range_one(uint32_t mode, uint32_t ringid,
				     uint32_t hw, uint32_t host,
				     uint16_t *first, uint16_t *last)
{
	uint32_t f = 0, l = 0;	/* l is one past the last */

	switch (mode) {
	case NR_REG_DEFAULT:
	case NR_REG_ALL_NIC:
		l = hw;
		break;
	case NR_REG_SW:
		f = hw;
		l = hw + host;
		break;
	case NR_REG_NIC_SW:
		l = hw + host;
		break;
	case NR_REG_ONE_NIC:
		if (ringid < hw)
			f = ringid, l = ringid + 1;
		break;
	case NR_REG_ONE_SW:
		/* a direction without host ring ringid binds its host ring 0 */
		if (host)
			f = hw + (ringid < host ? ringid : 0), l = f + 1;
		break;
	default:
		break;
	}
	if (l <= f) {
		*first = 1;
		*last = 0;
	} else {
		*first = (uint16_t)f;
		*last = (uint16_t)(l - 1);
	}
}

static inline struct nm_ring_range
nm_ring_range(const struct netmap_if *nifp, uint32_t mode, uint32_t ringid,
	      uint64_t flags)
{
	struct nm_ring_range r;

	nm_ring_range_one(mode, ringid, nifp->ni_tx_rings,
			  nifp->ni_host_tx_rings, &r.first_tx, &r.last_tx);
	nm_ring_range_one(mode, ringid, nifp->ni_rx_rings,
			  nifp->ni_host_rx_rings, &r.first_rx, &r.last_rx);
	if (flags & NR_RX_RINGS_ONLY) {
		r.first_tx = 1;
		r.last_tx = 0;
	}
	if (flags & NR_TX_RINGS_ONLY) {
		r.first_rx = 1;
		r.last_rx = 0;
	}
	return r;
}

/* ---------------------------------------------------------------------- */
/* The port API on NIOCCTRL                                                */
/* ---------------------------------------------------------------------- */

/* Fill a request header for type with body, options empty. */
static inline void nm_req_init(struct nmreq_header *hdr, uint16_t reqtype,
			       const char *name, void *body)
{
	memset(hdr, 0, sizeof(*hdr));
	hdr->nr_version = NETMAP_API;
	hdr->nr_reqtype = reqtype;
	if (name) {
		size_t n = strlen(name);

		if (n >= sizeof(hdr->nr_name))
			n = sizeof(hdr->nr_name) - 1;
		memcpy(hdr->nr_name, name, n);
	}
	hdr->nr_body = (uint64_t)(uintptr_t)body;
}

/* Put opt at the head of hdr's option list. */
static inline void nm_req_push_option(struct nmreq_header *hdr,
				      struct nmreq_option *opt,
				      uint32_t reqtype, uint64_t size)
{
	opt->nro_next = hdr->nr_options;
	opt->nro_reqtype = reqtype;
	opt->nro_status = 0;
	opt->nro_size = size;
	hdr->nr_options = (uint64_t)(uintptr_t)opt;
}

/* A bound port. Zero it, or use nm_port_prepare(), before anything else. */
struct nm_port {
	int fd;				/* /dev/netmap, or -1 */
	void *mem;			/* the mapped region */
	uint64_t memsize;
	struct netmap_if *nifp;
	struct nmreq_header hdr;	/* the REGISTER request */
	struct nmreq_register reg;	/* its body; results after open */
	struct nm_spec spec;
	struct nm_ring_range rings;
	char errmsg[NM_SPEC_ERRLEN + 64];
};

/*
 * Parse spec into p->hdr and p->reg without opening anything, so the
 * caller may adjust the request (say nr_mode and nr_ringid, to bind one
 * ring per thread) before nm_port_register().
 */
static inline int nm_port_prepare(struct nm_port *p, const char *spec)
{
	memset(p, 0, sizeof(*p));
	p->fd = -1;
	if (nm_spec_parse(spec, &p->spec, p->errmsg, sizeof(p->errmsg)))
		return -1;
	nm_req_init(&p->hdr, NETMAP_REQ_REGISTER, p->spec.name, &p->reg);
	p->reg.nr_mode = p->spec.mode;
	p->reg.nr_ringid = p->spec.ringid;
	p->reg.nr_flags = p->spec.flags;
	p->reg.nr_mem_id = p->spec.mem_id;
	p->reg.nr_tx_slots = p->spec.tx_slots;
	p->reg.nr_rx_slots = p->spec.rx_slots;
	p->reg.nr_tx_rings = p->spec.tx_rings;
	p->reg.nr_rx_rings = p->spec.rx_rings;
	p->reg.nr_host_tx_rings = p->spec.host_tx_rings;
	p->reg.nr_host_rx_rings = p->spec.host_rx_rings;
	return 0;
}

static inline int nm_port_fail(struct nm_port *p, const char *what)
{
	int e = errno;

	snprintf(p->errmsg, sizeof(p->errmsg), "%s %s: %s", what,
		 p->hdr.nr_name, strerror(e));
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	errno = e;
	return -1;
}

/* Open /dev/netmap, send the prepared REGISTER and map the region. */
static inline int nm_port_register(struct nm_port *p)
{
	void *mem;

	p->fd = open(NETMAP_DEVICE_NAME, NM_OPEN_FLAGS);
	if (p->fd < 0)
		return nm_port_fail(p, "cannot open " NETMAP_DEVICE_NAME " for");
	p->hdr.nr_body = (uint64_t)(uintptr_t)&p->reg;
	if (ioctl(p->fd, NIOCCTRL, &p->hdr) < 0)
		return nm_port_fail(p, "cannot register");
	mem = mmap(NULL, (size_t)p->reg.nr_memsize, PROT_READ | PROT_WRITE,
		   MAP_SHARED, p->fd, 0);
	if (mem == MAP_FAILED)
		return nm_port_fail(p, "cannot map the memory of");
	p->mem = mem;
	p->memsize = p->reg.nr_memsize;
	p->nifp = NETMAP_IF(mem, p->reg.nr_offset);
	p->rings = nm_ring_range(p->nifp, p->reg.nr_mode, p->reg.nr_ringid,
				 p->reg.nr_flags);
	return 0;
}

/*
 * Bind a port spec; extra_flags are NR_* flags added to the request
 * (NR_NO_TX_POLL, NR_DO_RX_POLL, ...). Returns 0, or -1 with errno set
 * and a message in p->errmsg.
 */
static inline int nm_port_open(struct nm_port *p, const char *spec,
			       uint64_t extra_flags)
{
	if (nm_port_prepare(p, spec))
		return -1;
	p->reg.nr_flags |= extra_flags;
	return nm_port_register(p);
}

/* Unmap and close (unbinding the port); p may then be reused. */
static inline void nm_port_close(struct nm_port *p)
{
	if (p->mem)
		munmap(p->mem, (size_t)p->memsize);
	if (p->fd >= 0)
		close(p->fd);
	p->mem = NULL;
	p->nifp = NULL;
	p->fd = -1;
}

static inline struct netmap_ring *nm_port_txring(const struct nm_port *p,
						 unsigned int i)
{
	return NETMAP_TXRING(p->nifp, i);
}

static inline struct netmap_ring *nm_port_rxring(const struct nm_port *p,
						 unsigned int i)
{
	return NETMAP_RXRING(p->nifp, i);
}

/* ---------------------------------------------------------------------- */
/* The classic descriptor API, on the legacy NIOCREGIF                     */
/* ---------------------------------------------------------------------- */

struct nm_desc;

/* Per-packet metadata; the first fields match pcap_pkthdr. */
struct nm_pkthdr {
	struct timeval ts;
	uint32_t caplen;
	uint32_t len;
	uint64_t flags;			/* NM_MORE_PKTS */
	struct nm_desc *d;
	struct netmap_slot *slot;
	uint8_t *buf;
};

#define NM_MORE_PKTS		1	/* more packets follow in this batch */

struct nm_stat {			/* as pcap_stat */
	unsigned int ps_recv;
	unsigned int ps_drop;
	unsigned int ps_ifdrop;
};

#define NM_ERRBUF_SIZE		512

struct nm_desc {
	struct nm_desc *self;		/* == this while the descriptor is open */
	int fd;
	void *mem;
	uint32_t memsize;
	int done_mmap;			/* mem is our own mapping */
	struct netmap_if *nifp;
	uint16_t first_tx_ring, last_tx_ring, cur_tx_ring;
	uint16_t first_rx_ring, last_rx_ring, cur_rx_ring;
	struct nmreq req;		/* the registration, with its results */
	struct nm_pkthdr hdr;
	struct netmap_ring *some_ring;	/* any bound ring, to find buffers */
	void *buf_start;
	void *buf_end;
	int snaplen;
	int promisc;
	int to_ms;
	char *errbuf;
	uint32_t if_flags;
	uint32_t if_reqcap;
	uint32_t if_curcap;
	struct nm_stat st;
	char msg[NM_ERRBUF_SIZE];
};

static inline int nm_is_desc(const void *p)
{
	const struct nm_desc *d = (const struct nm_desc *)p;

	return d && d->self == d;
}

#define P2NMD(p)		((struct nm_desc *)(p))
#define IS_NETMAP_DESC(d)	nm_is_desc(d)
#define NETMAP_FD(d)		(P2NMD(d)->fd)

/* The callback of nm_dispatch(), as pcap_handler. */
typedef void (*nm_cb_t)(unsigned char *, const struct nm_pkthdr *,
			const unsigned char *);

/*
 * nm_open() flags. The low 16 bits are nr_ringid bits
 * (NETMAP_NO_TX_POLL, NETMAP_DO_RX_POLL); the others take fields from
 * the parent descriptor arg.
 */
enum {
	NM_OPEN_NO_MMAP = 0x040000,	/* share arg's mapping */
	NM_OPEN_IFNAME = 0x080000,	/* arg's nr_name, nr_ringid, nr_flags */
	NM_OPEN_ARG1 = 0x100000,	/* arg's nr_arg1 */
	NM_OPEN_ARG2 = 0x200000,	/* arg's nr_arg2 (memory id) */
	NM_OPEN_ARG3 = 0x400000,	/* arg's nr_arg3 (extra buffers) */
	NM_OPEN_RING_CFG = 0x800000,	/* arg's ring and slot counts */
};

#define NM_OPEN_RINGID_BITS	(NETMAP_NO_TX_POLL | NETMAP_DO_RX_POLL)

/* Map the region of d, or share parent's when it is the same one. */
static inline int nm_mmap(struct nm_desc *d, const struct nm_desc *parent)
{
	struct nm_ring_range r;

	if (d->done_mmap || d->mem)
		return EINVAL;
	if (parent && parent->mem && parent->req.nr_arg2 == d->req.nr_arg2) {
		d->mem = parent->mem;
		d->memsize = parent->memsize;
	} else {
		void *mem = mmap(NULL, d->req.nr_memsize,
				 PROT_READ | PROT_WRITE, MAP_SHARED, d->fd, 0);

		if (mem == MAP_FAILED) {
			int e = errno;

			snprintf(d->msg, sizeof(d->msg), "mmap: %s",
				 strerror(e));
			return e;
		}
		d->mem = mem;
		d->memsize = d->req.nr_memsize;
		d->done_mmap = 1;
	}
	d->nifp = NETMAP_IF(d->mem, d->req.nr_offset);
	r = nm_ring_range(d->nifp, d->req.nr_flags & NR_REG_MASK,
			  d->req.nr_ringid & NETMAP_RING_MASK,
			  d->req.nr_flags & ~(uint64_t)NR_REG_MASK);
	d->first_tx_ring = d->cur_tx_ring = r.first_tx;
	d->last_tx_ring = r.last_tx;
	d->first_rx_ring = d->cur_rx_ring = r.first_rx;
	d->last_rx_ring = r.last_rx;
	if (r.first_tx <= r.last_tx)
		d->some_ring = NETMAP_TXRING(d->nifp, r.first_tx);
	else
		d->some_ring = NETMAP_RXRING(d->nifp, r.first_rx);
	d->buf_start = NETMAP_BUF(d->some_ring, 0);
	d->buf_end = (char *)d->mem + d->memsize;
	return 0;
}

/* Unbind, unmap (unless the mapping is shared) and free d. */
static inline int nm_close(struct nm_desc *d)
{
	if (!IS_NETMAP_DESC(d)) {
		errno = EINVAL;
		return EINVAL;
	}
	if (d->done_mmap && d->mem)
		munmap(d->mem, d->memsize);
	if (d->fd >= 0)
		close(d->fd);
	memset(d, 0, sizeof(*d));
	free(d);
	return 0;
}

/*
 * Open ifname (a port spec, see the top of this file) and bind it with
 * NIOCREGIF. req, when given, provides the initial request (ring and slot
 * counts, nr_arg1..3); the spec then sets the name, the mode and the
 * ring. flags: NM_OPEN_* and nr_ringid bits. arg: the parent descriptor
 * that NM_OPEN_* take fields from. Returns NULL with errno set on error.
 */
static inline struct nm_desc *nm_open(const char *ifname,
				      const struct nmreq *req, uint64_t flags,
				      const struct nm_desc *arg)
{
	struct nm_desc *d;
	struct nm_spec s;
	char err[NM_SPEC_ERRLEN];
	int e;

	if (nm_spec_parse(ifname, &s, err, sizeof(err)))
		return NULL;
	if (strlen(s.name) >= NM_IFNAMSIZ) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	if ((flags & (NM_OPEN_NO_MMAP | NM_OPEN_IFNAME | NM_OPEN_ARG1 |
		      NM_OPEN_ARG2 | NM_OPEN_ARG3 | NM_OPEN_RING_CFG)) &&
	    !IS_NETMAP_DESC(arg)) {
		errno = EINVAL;
		return NULL;
	}
	d = (struct nm_desc *)calloc(1, sizeof(*d));
	if (!d) {
		errno = ENOMEM;
		return NULL;
	}
	d->self = d;
	d->fd = -1;
	if (req)
		d->req = *req;
	if (flags & NM_OPEN_IFNAME) {
		memcpy(d->req.nr_name, arg->req.nr_name, sizeof(d->req.nr_name));
		d->req.nr_ringid = arg->req.nr_ringid;
		d->req.nr_flags = arg->req.nr_flags;
	} else {
		memset(d->req.nr_name, 0, sizeof(d->req.nr_name));
		memcpy(d->req.nr_name, s.name, strlen(s.name));
		d->req.nr_ringid = s.ringid;
		d->req.nr_flags = (uint32_t)(s.mode | s.flags);
		if (s.mem_id)
			d->req.nr_arg2 = s.mem_id;
		if (s.tx_slots)
			d->req.nr_tx_slots = s.tx_slots;
		if (s.rx_slots)
			d->req.nr_rx_slots = s.rx_slots;
		if (s.tx_rings)
			d->req.nr_tx_rings = s.tx_rings;
		if (s.rx_rings)
			d->req.nr_rx_rings = s.rx_rings;
	}
	d->req.nr_ringid |= (uint16_t)(flags & NM_OPEN_RINGID_BITS);
	if (flags & NM_OPEN_ARG1)
		d->req.nr_arg1 = arg->req.nr_arg1;
	if (flags & NM_OPEN_ARG2)
		d->req.nr_arg2 = arg->req.nr_arg2;
	if (flags & NM_OPEN_ARG3)
		d->req.nr_arg3 = arg->req.nr_arg3;
	if (flags & NM_OPEN_RING_CFG) {
		d->req.nr_tx_slots = arg->req.nr_tx_slots;
		d->req.nr_rx_slots = arg->req.nr_rx_slots;
		d->req.nr_tx_rings = arg->req.nr_tx_rings;
		d->req.nr_rx_rings = arg->req.nr_rx_rings;
	}
	d->req.nr_version = NETMAP_API;
	d->req.nr_cmd = 0;
	d->req.nr_offset = 0;
	d->req.nr_memsize = 0;

	d->fd = open(NETMAP_DEVICE_NAME, NM_OPEN_FLAGS);
	if (d->fd < 0)
		goto fail;
	if (ioctl(d->fd, NIOCREGIF, &d->req) < 0)
		goto fail;
	e = nm_mmap(d, (flags & NM_OPEN_NO_MMAP) ? arg : NULL);
	if (e) {
		errno = e;
		goto fail;
	}
	return d;
fail:
	e = errno;
	if (d->fd >= 0)
		close(d->fd);
	free(d);
	errno = e;
	return NULL;
}

/*
 * Queue one packet of size bytes on the first bound tx ring with room,
 * round-robin from cur_tx_ring, split over slots of nr_buf_size bytes
 * (NS_MOREFRAG). No system call: a later poll() or NIOCTXSYNC sends it.
 * Returns size, or 0 when no ring has room.
 */
static inline int nm_inject(struct nm_desc *d, const void *buf, size_t size)
{
	unsigned int n = (unsigned int)d->last_tx_ring + 1 - d->first_tx_ring;
	unsigned int c, ri = d->cur_tx_ring;

	if (d->first_tx_ring > d->last_tx_ring)
		return 0;
	for (c = 0; c < n; c++, ri++) {
		struct netmap_ring *ring;
		uint32_t i, need, left = (uint32_t)size;
		const char *src = (const char *)buf;

		if (ri > d->last_tx_ring || ri < d->first_tx_ring)
			ri = d->first_tx_ring;
		ring = NETMAP_TXRING(d->nifp, ri);
		need = size ? (uint32_t)((size + ring->nr_buf_size - 1) /
					 ring->nr_buf_size) : 1;
		if (need > NM_MAX_FRAGS || nm_ring_space(ring) < need)
			continue;
		i = ring->cur;
		do {
			struct netmap_slot *slot = &ring->slot[i];
			uint32_t len = left < ring->nr_buf_size ?
				       left : ring->nr_buf_size;

			nm_pkt_copy(src, NETMAP_BUF(ring, slot->buf_idx),
				    (int)len);
			slot->len = (uint16_t)len;
			left -= len;
			src += len;
			slot->flags = left ? NS_MOREFRAG : 0;
			i = nm_ring_next(ring, i);
		} while (left);
		nm_ring_advance(ring, i);
		d->cur_tx_ring = (uint16_t)ri;
		return (int)size;
	}
	return 0;
}

static inline void nm_fill_hdr(struct nm_desc *d, struct nm_pkthdr *h,
			       struct netmap_ring *ring, uint32_t i)
{
	struct netmap_slot *slot = &ring->slot[i];

	h->ts = ring->ts;
	h->caplen = h->len = slot->len;
	h->d = d;
	h->slot = slot;
	h->buf = (uint8_t *)NETMAP_BUF(ring, slot->buf_idx);
	h->flags = nm_ring_next(ring, i) != ring->tail ? NM_MORE_PKTS : 0;
}

/*
 * Call cb for up to cnt received slots (all of them when cnt <= 0),
 * round-robin over the bound rx rings from cur_rx_ring, and release them.
 * No system call. Returns the number of slots passed to cb.
 */
static inline int nm_dispatch(struct nm_desc *d, int cnt, nm_cb_t cb,
			      unsigned char *arg)
{
	unsigned int n = (unsigned int)d->last_rx_ring + 1 - d->first_rx_ring;
	unsigned int c, ri = d->cur_rx_ring;
	int got = 0;

	if (d->first_rx_ring > d->last_rx_ring)
		return 0;
	for (c = 0; c < n && (cnt <= 0 || got < cnt); c++, ri++) {
		struct netmap_ring *ring;
		uint32_t i;

		if (ri > d->last_rx_ring || ri < d->first_rx_ring)
			ri = d->first_rx_ring;
		ring = NETMAP_RXRING(d->nifp, ri);
		d->cur_rx_ring = (uint16_t)ri;
		for (i = ring->cur; i != ring->tail && (cnt <= 0 || got < cnt);
		     got++) {
			nm_fill_hdr(d, &d->hdr, ring, i);
			i = nm_ring_next(ring, i);
			nm_ring_advance(ring, i);
			cb(arg, &d->hdr, d->hdr.buf);
		}
	}
	d->st.ps_recv += (unsigned int)got;
	return got;
}

/*
 * The next received slot, or NULL when every bound rx ring is empty;
 * fills *hdr and releases the slot (valid until the next sync).
 */
static inline unsigned char *nm_nextpkt(struct nm_desc *d,
					struct nm_pkthdr *hdr)
{
	unsigned int n = (unsigned int)d->last_rx_ring + 1 - d->first_rx_ring;
	unsigned int c, ri = d->cur_rx_ring;

	if (d->first_rx_ring > d->last_rx_ring)
		return NULL;
	for (c = 0; c < n; c++, ri++) {
		struct netmap_ring *ring;

		if (ri > d->last_rx_ring || ri < d->first_rx_ring)
			ri = d->first_rx_ring;
		ring = NETMAP_RXRING(d->nifp, ri);
		if (nm_ring_empty(ring))
			continue;
		d->cur_rx_ring = (uint16_t)ri;
		nm_fill_hdr(d, hdr, ring, ring->cur);
		nm_ring_advance(ring, nm_ring_next(ring, ring->cur));
		d->st.ps_recv++;
		return hdr->buf;
	}
	return NULL;
}

#endif /* NETMAP_WITH_LIBS */

#endif /* _UAPI_NET_NETMAP_USER_H */
