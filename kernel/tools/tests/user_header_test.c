// SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause
/*
 * Exercise every macro and helper of netmap_user.h. Built as strict C11
 * and as C++17 with -Wall -Wextra -Werror (see ../Makefile), then run:
 * the ring helpers and the descriptor API work on a region built here in
 * memory, so no kernel module is needed. Exit code 0 when all checks pass.
 */
#define NETMAP_WITH_LIBS
#include <net/netmap_user.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures, checks;

#define CHECK(cond)							\
	do {								\
		checks++;						\
		if (!(cond)) {						\
			failures++;					\
			fprintf(stderr, "%s:%d: check failed: %s\n",	\
				__FILE__, __LINE__, #cond);		\
		}							\
	} while (0)

/* The fake region: netmap_if at 0, six rings, buffers from 64 KiB. */
#define REGION_SIZE	(1 << 20)
#define RING_OFS(k)	(4096 * (1 + (k)))	/* tx0 tx1 htx rx0 rx1 hrx */
#define BUFS_OFS	65536
#define NSLOTS		8
#define BUFSZ		2048

static unsigned char storage[REGION_SIZE] __attribute__((aligned(4096)));

/*
 * The region as a program sees an mmap'd one: through a pointer whose
 * object the compiler cannot see (so it does not bound-check slot[]).
 */
static unsigned char *region;

static unsigned char *opaque(unsigned char *p)
{
	__asm__ volatile("" : "+r"(p));
	return p;
}

/* The application sees the kernel-written fields as const. */
#define KSET(type, field, value) (*(type *)&(field) = (value))

static struct netmap_ring *ring_at(int k)
{
	return (struct netmap_ring *)(void *)(region + RING_OFS(k));
}

static void build_region(void)
{
	struct netmap_if *nifp = NETMAP_IF(region, 0);
	int k;
	uint32_t i;

	memset(region, 0, REGION_SIZE);
	memcpy(nifp->ni_name, "fake0", 6);
	KSET(uint32_t, nifp->ni_version, NETMAP_API);
	KSET(uint32_t, nifp->ni_tx_rings, 2);
	KSET(uint32_t, nifp->ni_rx_rings, 2);
	KSET(uint32_t, nifp->ni_host_tx_rings, 1);
	KSET(uint32_t, nifp->ni_host_rx_rings, 1);
	for (k = 0; k < 6; k++) {
		struct netmap_ring *ring = ring_at(k);

		KSET(ssize_t, nifp->ring_ofs[k], RING_OFS(k));
		KSET(int64_t, ring->buf_ofs, BUFS_OFS - RING_OFS(k));
		KSET(uint32_t, ring->num_slots, NSLOTS);
		KSET(uint32_t, ring->nr_buf_size, BUFSZ);
		KSET(uint16_t, ring->ringid, (uint16_t)k);
		KSET(uint16_t, ring->dir, k < 3 ? NR_TX : NR_RX);
		for (i = 0; i < NSLOTS; i++)
			ring->slot[i].buf_idx = 2 + (uint32_t)k * NSLOTS + i;
		if (k < 3)		/* tx: all but one slot free */
			KSET(uint32_t, ring->tail, NSLOTS - 1);
	}
}

static void test_ring_macros(void)
{
	struct netmap_if *nifp = NETMAP_IF(region, 0);
	struct netmap_ring *tx1 = NETMAP_TXRING(nifp, 1);
	struct netmap_ring *rx0 = NETMAP_RXRING(nifp, 0);
	struct netmap_ring *hrx = NETMAP_RXRING(nifp, 2);
	char *buf;
	char data[100];

	CHECK((void *)nifp == (void *)region);
	CHECK(tx1 == ring_at(1));
	CHECK(NETMAP_TXRING(nifp, 2) == ring_at(2));	/* the host tx ring */
	CHECK(rx0 == ring_at(3));
	CHECK(hrx == ring_at(5));
	CHECK(tx1->dir == NR_TX && rx0->dir == NR_RX);

	buf = NETMAP_BUF(tx1, tx1->slot[3].buf_idx);
	CHECK(buf == (char *)region + BUFS_OFS + (2 + NSLOTS + 3) * BUFSZ);
	CHECK(NETMAP_BUF_IDX(tx1, buf) == tx1->slot[3].buf_idx);
	/* the same buffer seen from another ring of the region */
	CHECK(NETMAP_BUF(rx0, tx1->slot[3].buf_idx) == buf);

	CHECK(nm_ring_next(tx1, 0) == 1);
	CHECK(nm_ring_next(tx1, NSLOTS - 1) == 0);
	CHECK(nm_ring_prev(tx1, 0) == NSLOTS - 1);
	CHECK(nm_ring_prev(tx1, 5) == 4);

	CHECK(nm_ring_space(tx1) == NSLOTS - 1);
	CHECK(!nm_ring_empty(tx1));
	CHECK(!nm_tx_pending(tx1));
	nm_ring_advance(tx1, 5);
	CHECK(tx1->head == 5 && tx1->cur == 5);
	CHECK(nm_ring_space(tx1) == 2);
	CHECK(nm_tx_pending(tx1));
	nm_ring_advance(tx1, NSLOTS - 1);
	CHECK(nm_ring_empty(tx1));
	/* wrap: head 6, tail 2 leaves 4 slots */
	nm_ring_advance(tx1, 6);
	KSET(uint32_t, tx1->tail, 2);
	CHECK(nm_ring_space(tx1) == 4);

	CHECK(nm_ring_empty(rx0));
	CHECK(nm_ring_space(rx0) == 0);

	memset(data, 0x5a, sizeof(data));
	nm_pkt_copy(data, buf, (int)sizeof(data));
	CHECK(memcmp(buf, data, sizeof(data)) == 0);
	nm_pkt_copy(data, buf, 0);
}

struct spec_case {
	const char *spec;
	int ok;
	const char *name;
	uint32_t mode;
	uint16_t ringid;
	uint64_t flags;
	char pipe;
};

static void test_spec_parse(void)
{
	static const struct spec_case cases[] = {
		{ "netmap:eth0", 1, "eth0", NR_REG_ALL_NIC, 0, 0, 0 },
		{ "eth0", 1, "eth0", NR_REG_ALL_NIC, 0, 0, 0 },
		{ "netmap:eth0-2/T", 1, "eth0", NR_REG_ONE_NIC, 2, NR_TX_RINGS_ONLY, 0 },
		{ "netmap:eth0^", 1, "eth0", NR_REG_SW, 0, 0, 0 },
		{ "netmap:eth0^1", 1, "eth0", NR_REG_ONE_SW, 1, 0, 0 },
		{ "netmap:eth0*", 1, "eth0", NR_REG_NIC_SW, 0, 0, 0 },
		{ "netmap:eth0/xR", 1, "eth0", NR_REG_ALL_NIC, 0,
		  NR_EXCLUSIVE | NR_RX_RINGS_ONLY, 0 },
		{ "netmap:eth0/zt/r", 1, "eth0", NR_REG_ALL_NIC, 0,
		  NR_ZCOPY_MON | NR_MONITOR_TX | NR_MONITOR_RX, 0 },
		{ "vale0:1", 1, "vale0:1", NR_REG_ALL_NIC, 0, 0, 0 },
		{ "vale:x{3", 1, "vale:x{3", NR_REG_ALL_NIC, 0, 0, '{' },
		{ "vale0:0{0", 1, "vale0:0{0", NR_REG_ALL_NIC, 0, 0, '{' },
		{ "netmap:vale1:p_2-1", 1, "vale1:p_2", NR_REG_ONE_NIC, 1, 0, 0 },
		{ "pipeA{1", 1, "pipeA{1", NR_REG_ALL_NIC, 0, 0, '{' },
		{ "netmap:pipeA}1", 1, "pipeA}1", NR_REG_ALL_NIC, 0, 0, '}' },
		{ "netmap:pipeA{1-0", 1, "pipeA{1", NR_REG_ONE_NIC, 0, 0, '{' },
		{ "netmap:pipeA{12/x", 1, "pipeA{12", NR_REG_ALL_NIC, 0, NR_EXCLUSIVE, '{' },
		{ "netmap:eth0@2", 1, "eth0", NR_REG_ALL_NIC, 0, 0, 0 },
		{ "netmap:eth0@conf:rings=2,slots=1024", 1, "eth0", NR_REG_ALL_NIC, 0, 0, 0 },
		{ "netmap:pipe{1}2", 1, "pipe{1}2", NR_REG_ALL_NIC, 0, 0, '{' },
		{ "netmap:pipe}1{2", 0, NULL, 0, 0, 0, 0 },
		{ "netmap:pipeA{1^", 0, NULL, 0, 0, 0, 0 },
		{ "netmap:pipeA{", 0, NULL, 0, 0, 0, 0 },
		{ "", 0, NULL, 0, 0, 0, 0 },
		{ "netmap:", 0, NULL, 0, 0, 0, 0 },
		{ "vale0:", 0, NULL, 0, 0, 0, 0 },
		{ "vale0-x:1", 0, NULL, 0, 0, 0, 0 },
		{ "valeaveryveryverylong:port", 0, NULL, 0, 0, 0, 0 },
		{ "netmap:eth0/q", 0, NULL, 0, 0, 0, 0 },
		{ "netmap:eth0/", 0, NULL, 0, 0, 0, 0 },
		{ "netmap:eth0/RT", 0, NULL, 0, 0, 0, 0 },
		{ "netmap:eth0-", 0, NULL, 0, 0, 0, 0 },
		{ "netmap:eth0-9999", 0, NULL, 0, 0, 0, 0 },
		{ "netmap:eth0@0", 0, NULL, 0, 0, 0, 0 },
		{ "netmap:eth0@foo", 0, NULL, 0, 0, 0, 0 },
		{ "netmap:eth0@conf:rings=x", 0, NULL, 0, 0, 0, 0 },
		{ "netmap:eth0@conf:colour=2", 0, NULL, 0, 0, 0, 0 },
		{ "tap:eth0", 0, NULL, 0, 0, 0, 0 },
	};
	struct nm_spec s;
	char err[NM_SPEC_ERRLEN];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct spec_case *c = &cases[i];
		int r;

		err[0] = '\0';
		errno = 0;
		r = nm_spec_parse(c->spec, &s, err, sizeof(err));
		if (!c->ok) {
			CHECK(r == -1 && errno == EINVAL && err[0]);
			if (r != -1)
				fprintf(stderr, "  accepted '%s'\n", c->spec);
			continue;
		}
		CHECK(r == 0);
		if (r) {
			fprintf(stderr, "  %s\n", err);
			continue;
		}
		CHECK(strcmp(s.name, c->name) == 0);
		CHECK(s.mode == c->mode);
		CHECK(s.ringid == c->ringid);
		CHECK(s.flags == c->flags);
		CHECK(s.pipe == c->pipe);
	}
	CHECK(nm_spec_parse("vale0:0{0", &s, err, sizeof(err)) == 0 &&
	      s.vale && strcmp(s.pipe_id, "0") == 0);
	CHECK(nm_spec_parse("netmap:eth0@2/x", &s, err, sizeof(err)) == 0 &&
	      s.mem_id == 2 && s.flags == NR_EXCLUSIVE);
	CHECK(nm_spec_parse("netmap:eth0@conf:rings=2,slots=1024", &s, err,
			    sizeof(err)) == 0 &&
	      s.tx_rings == 2 && s.rx_rings == 2 && s.tx_slots == 1024 &&
	      s.rx_slots == 1024 && s.host_tx_rings == 0);
	CHECK(nm_spec_parse("netmap:eth0@conf:host-rings=1,tx-slots=512,rx-rings=3",
			    &s, err, sizeof(err)) == 0 &&
	      s.host_tx_rings == 1 && s.host_rx_rings == 1 &&
	      s.tx_slots == 512 && s.rx_slots == 0 && s.rx_rings == 3 &&
	      s.tx_rings == 0);
	CHECK(nm_spec_parse("netmap:eth0@conf:tx-rings=4,host-tx-rings=2,rx-slots=9",
			    &s, err, sizeof(err)) == 0 &&
	      s.tx_rings == 4 && s.host_tx_rings == 2 && s.rx_slots == 9);
	CHECK(nm_spec_parse("netmap:x@conf:host-rx-rings=5", &s, err,
			    sizeof(err)) == 0 && s.host_rx_rings == 5);
	CHECK(nm_spec_parse("pipe{3", &s, NULL, 0) == 0 &&
	      strcmp(s.pipe_id, "3") == 0);
	CHECK(nm_spec_parse("pipe{1}2-0", &s, NULL, 0) == 0 && s.pipe == '{' &&
	      strcmp(s.pipe_id, "1}2") == 0 && strcmp(s.name, "pipe{1}2") == 0 &&
	      s.mode == NR_REG_ONE_NIC);
	CHECK(nm_spec_parse("p}id.x", &s, NULL, 0) == 0 && s.pipe == '}' &&
	      strcmp(s.pipe_id, "id.x") == 0);
	CHECK(nm_spec_parse("p}1}2", &s, NULL, 0) == -1);
	CHECK(nm_spec_parse("p}1{2", &s, NULL, 0) == -1);
	CHECK(nm_spec_parse("p{1{2", &s, NULL, 0) == -1);
	CHECK(nm_spec_parse(NULL, &s, NULL, 0) == -1);
}

static void test_ring_range(void)
{
	struct netmap_if *nifp = NETMAP_IF(region, 0);
	struct nm_ring_range r;

	r = nm_ring_range(nifp, NR_REG_ALL_NIC, 0, 0);
	CHECK(r.first_tx == 0 && r.last_tx == 1 && r.first_rx == 0 && r.last_rx == 1);
	r = nm_ring_range(nifp, NR_REG_DEFAULT, 0, 0);
	CHECK(r.first_tx == 0 && r.last_tx == 1);
	r = nm_ring_range(nifp, NR_REG_SW, 0, 0);
	CHECK(r.first_tx == 2 && r.last_tx == 2 && r.first_rx == 2 && r.last_rx == 2);
	r = nm_ring_range(nifp, NR_REG_NIC_SW, 0, 0);
	CHECK(r.first_tx == 0 && r.last_tx == 2 && r.first_rx == 0 && r.last_rx == 2);
	r = nm_ring_range(nifp, NR_REG_ONE_NIC, 1, 0);
	CHECK(r.first_tx == 1 && r.last_tx == 1 && r.first_rx == 1 && r.last_rx == 1);
	r = nm_ring_range(nifp, NR_REG_ONE_SW, 0, 0);
	CHECK(r.first_tx == 2 && r.last_tx == 2);
	KSET(uint32_t, nifp->ni_host_tx_rings, 2);
	r = nm_ring_range(nifp, NR_REG_ONE_SW, 1, 0);
	/* host tx ring 1; no host rx ring 1, so host rx ring 0 */
	CHECK(r.first_tx == 3 && r.last_tx == 3 && r.first_rx == 2 && r.last_rx == 2);
	KSET(uint32_t, nifp->ni_host_tx_rings, 1);
	r = nm_ring_range(nifp, NR_REG_ONE_NIC, 7, 0);		/* no such ring */
	CHECK(r.first_tx > r.last_tx && r.first_rx > r.last_rx);
	r = nm_ring_range(nifp, NR_REG_NULL, 0, 0);
	CHECK(r.first_tx > r.last_tx);
	r = nm_ring_range(nifp, NR_REG_ALL_NIC, 0, NR_TX_RINGS_ONLY);
	CHECK(r.first_tx == 0 && r.last_tx == 1 && r.first_rx > r.last_rx);
	r = nm_ring_range(nifp, NR_REG_ALL_NIC, 0, NR_RX_RINGS_ONLY);
	CHECK(r.first_tx > r.last_tx && r.first_rx == 0 && r.last_rx == 1);
}

static void test_requests(void)
{
	struct nmreq_header hdr;
	struct nmreq_register reg;
	struct nmreq_opt_sync_kloop_mode mode;
	struct nmreq_opt_csb csb;
	struct nm_port p;
	char longname[100];

	memset(&reg, 0, sizeof(reg));
	nm_req_init(&hdr, NETMAP_REQ_REGISTER, "vale0:1", &reg);
	CHECK(hdr.nr_version == NETMAP_API && hdr.nr_reqtype == NETMAP_REQ_REGISTER);
	CHECK(hdr.nr_reserved == 0 && strcmp(hdr.nr_name, "vale0:1") == 0);
	CHECK(hdr.nr_body == (uint64_t)(uintptr_t)&reg && hdr.nr_options == 0);

	nm_req_push_option(&hdr, &mode.nro_opt, NETMAP_REQ_OPT_SYNC_KLOOP_MODE,
			   sizeof(mode));
	nm_req_push_option(&hdr, &csb.nro_opt, NETMAP_REQ_OPT_CSB, sizeof(csb));
	CHECK(hdr.nr_options == (uint64_t)(uintptr_t)&csb);
	CHECK(csb.nro_opt.nro_next == (uint64_t)(uintptr_t)&mode);
	CHECK(mode.nro_opt.nro_next == 0 && csb.nro_opt.nro_size == sizeof(csb));
	CHECK(csb.nro_opt.nro_reqtype == NETMAP_REQ_OPT_CSB);

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	nm_req_init(&hdr, NETMAP_REQ_PORT_INFO_GET, longname, NULL);
	CHECK(strlen(hdr.nr_name) == sizeof(hdr.nr_name) - 1 && hdr.nr_body == 0);

	CHECK(nm_port_prepare(&p, "netmap:pipeB}4-0/x@conf:slots=256") == 0);
	CHECK(p.fd == -1 && p.mem == NULL);
	CHECK(strcmp(p.hdr.nr_name, "pipeB}4") == 0);
	CHECK(p.hdr.nr_reqtype == NETMAP_REQ_REGISTER);
	CHECK(p.reg.nr_mode == NR_REG_ONE_NIC && p.reg.nr_ringid == 0);
	CHECK(p.reg.nr_flags == NR_EXCLUSIVE);
	CHECK(p.reg.nr_tx_slots == 256 && p.reg.nr_rx_slots == 256);

	CHECK(nm_port_open(&p, "netmap:bad}1}2", 0) == -1 && errno == EINVAL);
	CHECK(strstr(p.errmsg, "bad}1}2") != NULL);
	if (access(NETMAP_DEVICE_NAME, F_OK) != 0) {
		CHECK(nm_port_open(&p, "pipeZ{9", NR_NO_TX_POLL) == -1);
		CHECK(errno == ENOENT && p.fd == -1);
		CHECK(strstr(p.errmsg, NETMAP_DEVICE_NAME) != NULL);
	} else if (nm_port_open(&p, "pipeZ{9", NR_NO_TX_POLL) == 0) {
		CHECK(p.nifp != NULL && p.rings.first_tx <= p.rings.last_tx);
		CHECK(nm_port_txring(&p, p.rings.first_tx)->dir == NR_TX);
		CHECK(nm_port_rxring(&p, p.rings.first_rx)->dir == NR_RX);
	}
	nm_port_close(&p);
	CHECK(p.fd == -1 && p.mem == NULL);
}

static unsigned char seen_lens[16];
static int seen;

static void count_cb(unsigned char *arg, const struct nm_pkthdr *h,
		     const unsigned char *buf)
{
	int *more = (int *)(void *)arg;

	if (seen < 16)
		seen_lens[seen] = (unsigned char)h->len;
	seen++;
	*more += (h->flags & NM_MORE_PKTS) ? 1 : 0;
	CHECK(buf == h->buf && h->caplen == h->len && h->d != NULL);
	CHECK(h->slot != NULL && h->slot->len == h->len);
}

static void test_desc_api(void)
{
	struct nm_desc parent, *d, fake;
	struct netmap_ring *tx0 = ring_at(0), *tx1 = ring_at(1);
	struct netmap_ring *rx0 = ring_at(3), *rx1 = ring_at(4);
	struct nm_pkthdr h;
	static char big[7000];
	unsigned char *pkt;
	int more = 0;
	nm_cb_t cb = count_cb;

	build_region();
	memset(&parent, 0, sizeof(parent));
	parent.self = &parent;
	parent.fd = -1;
	parent.mem = region;
	parent.memsize = REGION_SIZE;
	parent.req.nr_arg2 = 1;
	CHECK(IS_NETMAP_DESC(&parent) && NETMAP_FD(&parent) == -1);
	CHECK(P2NMD((void *)&parent) == &parent);

	d = (struct nm_desc *)calloc(1, sizeof(*d));
	CHECK(d != NULL);
	if (!d)
		return;
	d->self = d;
	d->fd = -1;
	d->req.nr_arg2 = 1;
	d->req.nr_flags = NR_REG_NIC_SW;
	CHECK(nm_mmap(d, &parent) == 0);
	CHECK(d->mem == region && !d->done_mmap && d->memsize == REGION_SIZE);
	CHECK(d->nifp == NETMAP_IF(region, 0));
	CHECK(d->first_tx_ring == 0 && d->last_tx_ring == 2);
	CHECK(d->first_rx_ring == 0 && d->last_rx_ring == 2);
	CHECK(d->some_ring == tx0 && d->buf_start == NETMAP_BUF(tx0, 0));
	CHECK(d->buf_end == (char *)region + REGION_SIZE);
	CHECK(nm_mmap(d, &parent) == EINVAL);	/* already mapped */

	/* NR_REG_ONE_NIC ring 1, rx only: some_ring is the rx ring */
	memset(&fake, 0, sizeof(fake));
	fake.self = &fake;
	fake.req.nr_arg2 = 1;
	fake.req.nr_flags = NR_REG_ONE_NIC | NR_RX_RINGS_ONLY;
	fake.req.nr_ringid = 1 | NETMAP_NO_TX_POLL;
	CHECK(nm_mmap(&fake, &parent) == 0);
	CHECK(fake.first_rx_ring == 1 && fake.last_rx_ring == 1);
	CHECK(fake.first_tx_ring > fake.last_tx_ring && fake.some_ring == rx1);
	CHECK(nm_inject(&fake, "x", 1) == 0);	/* no tx ring bound */

	/* nm_inject: hardware tx rings 0 and 1 */
	d->last_tx_ring = 1;
	memset(big, 'b', sizeof(big));
	CHECK(nm_inject(d, "hello", 5) == 5);
	CHECK(tx0->head == 1 && tx0->cur == 1 && tx0->slot[0].len == 5);
	CHECK(tx0->slot[0].flags == 0);
	CHECK(memcmp(NETMAP_BUF(tx0, tx0->slot[0].buf_idx), "hello", 5) == 0);
	CHECK(nm_inject(d, big, 5000) == 5000);	/* three slots */
	CHECK(tx0->head == 4 && tx0->slot[1].len == BUFSZ);
	CHECK(tx0->slot[1].flags == NS_MOREFRAG && tx0->slot[2].flags == NS_MOREFRAG);
	CHECK(tx0->slot[3].len == 5000 - 2 * BUFSZ && tx0->slot[3].flags == 0);
	CHECK(nm_inject(d, big, sizeof(big)) == (int)sizeof(big));	/* ring 1 */
	CHECK(d->cur_tx_ring == 1 && tx1->head == 4 && tx0->head == 4);
	CHECK(nm_inject(d, big, sizeof(big)) == 0);	/* no room left */
	CHECK(nm_inject(d, "", 0) == 0 && tx1->head == 5 && tx1->slot[4].len == 0);

	/* nm_dispatch: three packets on rx0, one on rx1 */
	rx0->slot[0].len = 10;
	rx0->slot[1].len = 20;
	rx0->slot[2].len = 30;
	KSET(uint32_t, rx0->tail, 3);
	rx1->slot[0].len = 40;
	KSET(uint32_t, rx1->tail, 1);
	d->last_rx_ring = 1;
	CHECK(nm_dispatch(d, 2, cb, (unsigned char *)&more) == 2);
	CHECK(seen == 2 && seen_lens[0] == 10 && seen_lens[1] == 20 && more == 2);
	CHECK(rx0->head == 2 && rx0->cur == 2);
	CHECK(nm_dispatch(d, -1, cb, (unsigned char *)&more) == 2);
	CHECK(seen == 4 && seen_lens[2] == 30 && seen_lens[3] == 40);
	CHECK(nm_ring_empty(rx0) && nm_ring_empty(rx1));
	CHECK(nm_dispatch(d, 0, cb, (unsigned char *)&more) == 0);
	CHECK(d->st.ps_recv == 4);

	/* nm_nextpkt */
	rx1->slot[1].len = 50;
	KSET(uint32_t, rx1->tail, 2);
	pkt = nm_nextpkt(d, &h);
	CHECK(pkt != NULL && h.len == 50 && pkt == h.buf);
	CHECK(pkt == (unsigned char *)NETMAP_BUF(rx1, rx1->slot[1].buf_idx));
	CHECK(nm_nextpkt(d, &h) == NULL);

	CHECK(nm_close(d) == 0);	/* shared mapping: nothing to unmap */
	CHECK(nm_close(NULL) == EINVAL && errno == EINVAL);
}

/* nm_open() as QEMU's netmap backend and classic programs call it. */
static void test_nm_open(void)
{
	struct nmreq req;
	struct nm_desc *d, parent;

	memset(&req, 0, sizeof(req));
	errno = 0;
	CHECK(nm_open("netmap:a{1{2", &req, NETMAP_NO_TX_POLL, NULL) == NULL);
	CHECK(errno == EINVAL);
	CHECK(nm_open("netmap:abcdefghijklmnop", NULL, 0, NULL) == NULL);
	CHECK(errno == ENAMETOOLONG);
	memset(&parent, 0, sizeof(parent));
	CHECK(nm_open("vale0:1", NULL, NM_OPEN_NO_MMAP, &parent) == NULL);
	CHECK(errno == EINVAL);
	if (access(NETMAP_DEVICE_NAME, F_OK) == 0)
		return;
	d = nm_open("vale0:1", &req, NETMAP_NO_TX_POLL | NETMAP_DO_RX_POLL, NULL);
	CHECK(d == NULL && errno == ENOENT);
	parent.self = &parent;
	d = nm_open("netmap:pipeQ{1", NULL,
		    NM_OPEN_IFNAME | NM_OPEN_NO_MMAP | NM_OPEN_ARG1 |
		    NM_OPEN_ARG2 | NM_OPEN_ARG3 | NM_OPEN_RING_CFG, &parent);
	CHECK(d == NULL && errno == ENOENT);
}

int main(void)
{
	struct nm_stat st;

	memset(&st, 0, sizeof(st));
	region = opaque(storage);
	build_region();
	test_ring_macros();
	build_region();
	test_ring_range();
	test_spec_parse();
	test_requests();
	test_desc_api();
	test_nm_open();
	CHECK(st.ps_drop == 0 && st.ps_ifdrop == 0);
	CHECK(sizeof(struct nm_pkthdr) >= sizeof(struct timeval) + 8);
	if (failures) {
		fprintf(stderr, "%d of %d checks failed\n", failures, checks);
		return 1;
	}
	printf("netmap_user.h: %d checks passed\n", checks);
	return 0;
}
