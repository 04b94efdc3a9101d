// SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause
/*
 * nm-kloop-test: play a ptnet guest from a host process, to exercise the
 * sync kloop of netmap.ko (CSB mode, NETMAP_REQ_SYNC_KLOOP_START).
 *
 * It binds PORT exclusively, gives it a CSB (two 64-byte aligned arrays,
 * one entry per bound ring, tx rings first), starts the kloop in a thread
 * of its own, and then moves packets purely through the CSB, as a guest
 * driver does: slots and buffers in the mapped rings, pointers in
 * csb_atok (written cur, barrier, head) and csb_ktoa (read hwtail,
 * barrier, hwcur). The shared ring headers are never used.
 *
 *   -f tx   fills the tx rings (frames of gen.h) and hands them over;
 *   -f rx   receives, and with --verify checks every frame.
 *
 * Modes (--mode): sleep (no eventfds: the kloop polls every --sleep-us,
 * the guest polls ktoa), eventfd (one ioeventfd and one irqfd per ring:
 * the guest kicks an ioeventfd only when ktoa.kern_need_kick is set, and
 * sleeps on the irqfds after setting atok.appl_need_kick), direct-tx and
 * direct-rx (eventfds, plus SYNC_KLOOP_MODE DIRECT_TX or DIRECT_RX).
 *
 * --peer PORT2 runs the other side in a thread of this process with
 * ordinary ioctl syncs (rx for -f tx, tx for -f rx), verifying every
 * frame with --verify; without it, run pkt-gen on the other end.
 *
 * --hostile writes random values into the CSB and the slots, -n times:
 * heads and curs out of range, buffer indices and lengths of any value,
 * flags, kick requests, even ktoa; the kernel must survive it (count it
 * in kloop_errors and keep serving). A peer thread, if given, keeps
 * traffic flowing the other way meanwhile.
 *
 * The report is pkt-gen's: Sent/Received ... Speed: X pps ..., and with
 * --json one object with pkt-gen's keys (role, packets, bytes, seconds,
 * pps, bps, errors, lost) plus the kloop's figures. For -f tx, seconds
 * runs from the first frame handed over to the moment the kloop had
 * taken the last one (ktoa.hwcur reached it), which is what a receiver
 * on the other end of a pipe can see at most.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define NETMAP_WITH_LIBS
#include <net/netmap_user.h>

#include "gen.h"

#define SLICE_MS	100		/* longest wait before looking again */
#define CSB_ALIGN	64

enum kl_mode { KL_SLEEP, KL_EVENTFD, KL_DIRECT_TX, KL_DIRECT_RX };

static const char *const mode_names[] = {
	[KL_SLEEP] = "sleep",
	[KL_EVENTFD] = "eventfd",
	[KL_DIRECT_TX] = "direct-tx",
	[KL_DIRECT_RX] = "direct-rx",
};

/* Our options, taken out of argv before gen_parse_args() sees it. */
struct kl_opts {
	enum kl_mode mode;
	uint32_t sleep_us;
	const char *peer;
	double peer_rate;		/* the peer's tx rate, pps; 0: unlimited */
	int kloop_cpu;			/* the kloop thread's CPU; -1: -a's */
	int hostile;
	uint64_t seed;
};

/* One bound ring as the guest sees it. */
struct g_ring {
	struct netmap_ring *ring;	/* slots and buffers only */
	struct nm_csb_atok *atok;
	struct nm_csb_ktoa *ktoa;
	uint32_t n;			/* num_slots */
	uint32_t head;			/* ours: next slot to fill or read */
	uint32_t rx_seen;		/* rx: hwtail at the last drain */
	uint64_t seq;			/* tx: next frame; the stream is k */
	int tx;
	int io, irq;			/* eventfds, or -1 */
};

struct guest {
	const struct gen_opts *o;
	const struct kl_opts *ko;
	struct nm_port port;
	unsigned int nrings, ntx;
	struct g_ring *r;
	struct nm_csb_atok *atok;
	struct nm_csb_ktoa *ktoa;
	struct gen_stats st;
	struct gen_checker checker;
	uint64_t kicks, irq_waits, iterations;
	const char *error;
	/* the kloop thread */
	pthread_t kloop_tid;
	int kloop_ret;			/* START's errno, 0 when it returned 0 */
	int kloop_done;
};

struct peer {
	const struct gen_opts *o;
	double rate;
	int hostile;
	enum gen_role role;
	struct nm_port port;
	struct gen_stats st;
	struct gen_checker checker;
	uint64_t seq[GEN_MAX_THREADS];	/* tx: per ring (stream) */
	volatile int *guest_done;
	const char *error;
	pthread_t tid;
};

static const char tool_extra_help[] =
	"\n"
	"nm-kloop-test plays a ptnet guest: PORT (a pipe end or a VALE port) is\n"
	"bound exclusively and driven only through a CSB and the sync kloop.\n"
	"  -f tx|rx          the guest's side (ping and pong are not supported)\n"
	"  --mode MODE       sleep, eventfd (default), direct-tx or direct-rx\n"
	"  --sleep-us N      the kloop's poll period without eventfds (0: default)\n"
	"  --peer PORT2      run the other end (e.g. X}N for X{N) in a thread\n"
	"  --peer-rate PPS   the peer's tx rate (VALE drops what a ring cannot take)\n"
	"  --hostile         -n random CSB and slot writes instead of traffic\n"
	"  --seed N          the random seed of --hostile (default 1)\n"
	"  --kloop-cpu CPU   pin the kloop thread there (default: -a's CPU)\n"
	"With -a CPU the guest and kloop threads run on CPU, the peer on CPU + 1.\n"
	"For -f tx, seconds end when the kloop has taken the last frame, so the\n"
	"rate compares with the receiver's.\n";

static const struct gen_tool tool = {
	.name = "nm-kloop-test",
	.port_help = "the port driven through the CSB, e.g. pipeK{1",
	.max_threads = 1,
	.extra_help = tool_extra_help,
};

/* ---------------------------------------------------------------------- */
/* Small helpers                                                           */
/* ---------------------------------------------------------------------- */

static uint32_t dist(uint32_t from, uint32_t to, uint32_t n)
{
	return to >= from ? to - from : to + n - from;
}

static uint32_t ring_add(uint32_t i, uint32_t k, uint32_t n)
{
	i += k;
	return i >= n ? i - n : i;
}

static void full_barrier(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static uint32_t frags_for(const struct netmap_ring *ring, unsigned int len)
{
	return (len + ring->nr_buf_size - 1) / ring->nr_buf_size;
}

/* xorshift64*: good enough for random CSB writes, and reproducible. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* A module parameter of netmap.ko, or -1 when it cannot be read. */
static long long module_param(const char *name)
{
	char path[128];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/netmap/parameters/%s", name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/*
 * Buffer idx of ring, or NULL when it lies outside the port's mapping:
 * slot contents come from shared memory, which a hostile guest (or peer)
 * may have scribbled, and the kernel hands some slots back unchecked.
 */
static uint8_t *buf_of(const struct nm_port *port, struct netmap_ring *ring,
		       uint32_t idx)
{
	uintptr_t base = (uintptr_t)port->mem, b;

	b = (uintptr_t)NETMAP_BUF(ring, idx);
	if (b < base || b + ring->nr_buf_size > base + port->memsize ||
	    b + ring->nr_buf_size < b)
		return NULL;
	return (uint8_t *)b;
}

/*
 * Write frames seq.. from slot *i on; returns the frames written. A slot
 * whose buffer is outside the mapping is sent as it is.
 */
static uint64_t fill_frames(const struct nm_port *port,
			    struct netmap_ring *ring, uint32_t *i,
			    uint64_t frames, uint64_t *seq, unsigned int len,
			    uint16_t stream)
{
	unsigned int bufsz = ring->nr_buf_size;
	uint32_t n = ring->num_slots, k = *i;
	uint64_t f;

	for (f = 0; f < frames; f++, (*seq)++) {
		unsigned int ofs = 0;

		while (ofs < len) {
			struct netmap_slot *slot = &ring->slot[k];
			unsigned int flen = len - ofs < bufsz ? len - ofs : bufsz;
			uint8_t *buf = buf_of(port, ring, slot->buf_idx);

			if (buf)
				gen_fill(buf, ofs, flen, *seq, stream);
			slot->len = (uint16_t)flen;
			ofs += flen;
			slot->flags = ofs < len ? NS_MOREFRAG : 0;
			k = ring_add(k, 1, n);
		}
	}
	*i = k;
	return frames;
}

/*
 * Read and release the complete packets in [*head, tail): returns how
 * many; *partial is set when a chain of slots continues past tail.
 */
static uint64_t drain_frames(const struct nm_port *port,
			     struct netmap_ring *ring, uint32_t *head,
			     uint32_t tail, uint64_t limit, int verify,
			     struct gen_stats *st, struct gen_checker *c,
			     int *partial)
{
	uint32_t n = ring->num_slots, i = *head;
	uint64_t got = 0;

	*partial = 0;
	while (i != tail && got < limit) {
		uint32_t j = i, nfr = 0;
		unsigned int total = 0;
		int done = 0;

		/* the chain starting at i */
		while (!done) {
			const struct netmap_slot *s = &ring->slot[j];

			nfr++;
			total += s->len;
			j = ring_add(j, 1, n);
			if (!(s->flags & NS_MOREFRAG) || nfr >= NM_MAX_FRAGS)
				done = 1;
			else if (j == tail)
				break;
		}
		if (!done) {
			*partial = 1;
			break;
		}
		if (verify) {
			const struct netmap_slot *s0 = &ring->slot[i];
			const uint8_t *f = buf_of(port, ring, s0->buf_idx);
			unsigned int ofs = 0;
			uint16_t stream;
			uint64_t seq;
			uint32_t k, m = i;
			int bad = !f || gen_frame_seq(f, s0->len, &seq, &stream) ||
				  gen_check_length(f, total);

			for (k = 0; k < nfr && !bad; k++, m = ring_add(m, 1, n)) {
				const struct netmap_slot *s = &ring->slot[m];
				const uint8_t *b = buf_of(port, ring, s->buf_idx);

				bad = !b || gen_check_fragment(b, ofs, s->len);
				ofs += s->len;
			}
			if (bad)
				st->errors++;
			else
				gen_check_seq(c, st, seq, stream);
		}
		got++;
		st->bytes += total;
		i = j;
	}
	*head = i;
	st->packets += got;
	return got;
}

/* ---------------------------------------------------------------------- */
/* CSB side: publish, read, kick, wait                                     */
/* ---------------------------------------------------------------------- */

static void g_publish(struct g_ring *r, uint32_t cur)
{
	nm_sync_kloop_appl_write(r->atok, cur, r->head);
}

static void g_read(const struct g_ring *r, uint32_t *hwtail, uint32_t *hwcur)
{
	nm_sync_kloop_appl_read(r->ktoa, hwtail, hwcur);
}

/* Kick the ring's ioeventfd, if the kernel asked for it. */
static void g_kick(struct guest *g, struct g_ring *r)
{
	uint64_t one = 1;

	if (r->io < 0)
		return;
	full_barrier();		/* atok stores before the kern_need_kick load */
	if (!__atomic_load_n(&r->ktoa->kern_need_kick, __ATOMIC_RELAXED))
		return;
	if (write(r->io, &one, sizeof(one)) == sizeof(one))
		g->kicks++;
}

/* Frames of len bytes that fit in tx ring r now. */
static uint64_t g_tx_room(const struct guest *g, const struct g_ring *r)
{
	uint32_t hwtail, hwcur;

	g_read(r, &hwtail, &hwcur);
	if (hwtail >= r->n)
		return 0;	/* not ours to trust: wait for the kernel */
	return dist(r->head, hwtail, r->n) / frags_for(r->ring, g->o->len);
}

static int g_rx_news(const struct g_ring *r)
{
	uint32_t hwtail, hwcur;

	g_read(r, &hwtail, &hwcur);
	return hwtail != r->rx_seen;
}

/* Is there something to do on the rings of direction tx? */
static int g_ready(const struct guest *g, int tx)
{
	unsigned int k;

	for (k = 0; k < g->nrings; k++) {
		const struct g_ring *r = &g->r[k];

		if (r->tx != tx)
			continue;
		if (tx ? g_tx_room(g, r) > 0 : g_rx_news(r))
			return 1;
	}
	return 0;
}

/* Have all tx slots been taken (hwcur) or completed (hwtail)? */
static int g_tx_all(const struct guest *g, int completed)
{
	unsigned int k;

	for (k = 0; k < g->ntx; k++) {
		const struct g_ring *r = &g->r[k];
		uint32_t hwtail, hwcur;

		g_read(r, &hwtail, &hwcur);
		if (completed ? ring_add(hwtail, 1, r->n) != r->head :
				hwcur != r->head)
			return 0;
	}
	return 1;
}

/*
 * Wait for room (tx) or packets (rx), or with drain for every tx slot
 * taken (1) or completed (2): ask for kicks, look again, then sleep on
 * the irqfds (or briefly, without eventfds). Slots taken move no hwtail,
 * hence no irqfd: the drain waits poll every millisecond.
 */
static void g_wait(struct guest *g, int tx, int drain)
{
	int ms = drain ? 1 : SLICE_MS, ready;
	struct pollfd pfd[64];
	unsigned int k, np = 0;

	for (k = 0; k < g->nrings; k++)
		if (g->r[k].tx == tx)
			__atomic_store_n(&g->r[k].atok->appl_need_kick, 1,
					 __ATOMIC_RELAXED);
	full_barrier();		/* appl_need_kick before the ktoa loads */
	ready = drain ? g_tx_all(g, drain - 1) : g_ready(g, tx);
	if (!ready) {
		g->irq_waits++;
		for (k = 0; k < g->nrings && np < 64; k++) {
			if (g->r[k].tx == tx && g->r[k].irq >= 0) {
				pfd[np].fd = g->r[k].irq;
				pfd[np].events = POLLIN;
				np++;
			}
		}
		if (np) {
			uint64_t v;

			if (poll(pfd, np, ms) > 0)
				for (k = 0; k < np; k++)
					if ((pfd[k].revents & POLLIN) &&
					    read(pfd[k].fd, &v, sizeof(v)) < 0)
						g->error = strerror(errno);
		} else {
			gen_sleep(g->ko->sleep_us ? g->ko->sleep_us * 0.5e-6 : 20e-6);
		}
	}
	for (k = 0; k < g->nrings; k++)
		if (g->r[k].tx == tx)
			__atomic_store_n(&g->r[k].atok->appl_need_kick, 0,
					 __ATOMIC_RELAXED);
}

/* ---------------------------------------------------------------------- */
/* Guest roles                                                             */
/* ---------------------------------------------------------------------- */

static void g_tx(struct guest *g)
{
	const struct gen_opts *o = g->o;
	double linger = o->idle > 1 ? o->idle : 1, t0, give_up;
	uint64_t seq = 0;

	t0 = g->st.tic = gen_now();
	while (!gen_stop && (!o->count || seq < o->count)) {
		uint64_t budget = gen_rate_allowance(o->rate, t0, seq), moved = 0;
		unsigned int k;

		if (o->timeout && gen_now() - t0 >= o->timeout)
			break;
		if (!budget) {
			gen_sleep(1e-4);
			continue;
		}
		for (k = 0; k < g->ntx; k++) {
			struct g_ring *r = &g->r[k];
			uint64_t want = g_tx_room(g, r), before = r->seq;

			if (want > o->burst)
				want = o->burst;
			if (want > budget)
				want = budget;
			if (o->count && want > o->count - seq)
				want = o->count - seq;
			if (!want)
				continue;
			fill_frames(&g->port, r->ring, &r->head, want, &r->seq,
				    o->len, (uint16_t)k);
			seq += r->seq - before;
			g_publish(r, r->head);
			g_kick(g, r);
			budget -= want;
			moved += want;
		}
		g->st.packets = seq;
		g->st.bytes = seq * o->len;
		if (moved)
			g->st.events++;
		else
			g_wait(g, 1, 0);
	}
	/* Handed over; the run ends when the kloop has taken everything. */
	give_up = gen_now() + linger;
	while (!gen_stop && !g_tx_all(g, 0) && gen_now() < give_up)
		g_wait(g, 1, 1);
	g->st.toc = gen_now();
	give_up = gen_now() + linger;
	while (!gen_stop && !g_tx_all(g, 1) && gen_now() < give_up)
		g_wait(g, 1, 2);
	if (!g_tx_all(g, 1) && !g->error)
		g->error = "tx slots not completed (no receiver?)";
}

static void g_rx(struct guest *g)
{
	const struct gen_opts *o = g->o;
	double start = gen_now();

	while (!gen_stop) {
		uint64_t got = 0;
		unsigned int k;
		double now;

		for (k = g->ntx; k < g->nrings; k++) {
			struct g_ring *r = &g->r[k];
			uint32_t hwtail, hwcur;
			uint64_t left = o->count ? o->count - g->st.packets :
						   UINT64_MAX;
			int partial;

			g_read(r, &hwtail, &hwcur);
			if (hwtail >= r->n || hwtail == r->rx_seen)
				continue;
			r->rx_seen = hwtail;
			got += drain_frames(&g->port, r->ring, &r->head, hwtail,
					    left, o->verify, &g->st,
					    &g->checker, &partial);
			g_publish(r, partial ? hwtail : r->head);
			g_kick(g, r);
		}
		now = gen_now();
		if (got) {
			if (!g->st.tic)
				g->st.tic = now;
			g->st.toc = now;
			g->st.events++;
		}
		if (o->count && g->st.packets >= o->count)
			break;
		if (o->timeout && now - start >= o->timeout)
			break;
		if (g->st.tic && now - g->st.toc >= o->idle)
			break;
		if (!got)
			g_wait(g, 0, 0);
	}
}

/* Random writes into the CSB and the slots, -n of them. */
static void g_hostile(struct guest *g)
{
	uint64_t s = g->ko->seed ? g->ko->seed : 1, it;
	uint64_t one = 1;

	g->st.tic = gen_now();
	for (it = 0; !gen_stop && it < g->o->count; it++) {
		struct g_ring *r = &g->r[rnd(&s) % g->nrings];
		uint64_t v = rnd(&s);
		uint32_t slot = (uint32_t)(v >> 40) % r->n;
		struct netmap_slot *sl = &r->ring->slot[slot];
		uint32_t small = (uint32_t)(v >> 20) % (r->n + 3);

		switch (v % 10) {
		case 0:
			__atomic_store_n(&r->atok->head, (uint32_t)(v >> 32), __ATOMIC_RELAXED);
			break;
		case 1:
			__atomic_store_n(&r->atok->cur, (uint32_t)(v >> 32), __ATOMIC_RELAXED);
			break;
		case 2:		/* plausible but arbitrary pointers */
			nm_sync_kloop_appl_write(r->atok, (uint32_t)(v >> 8) % (r->n + 3),
						 small);
			break;
		case 3:		/* any buffer index: bad, reserved or another's */
			sl->buf_idx = (v >> 9) & 1 ? (uint32_t)(v >> 32) :
						     (uint32_t)(v >> 32) % 4096;
			break;
		case 4:
			sl->len = (uint16_t)(v >> 32);
			break;
		case 5:
			sl->flags = (uint16_t)(v >> 32);
			sl->ptr = v;
			break;
		case 6:
			__atomic_store_n(&r->atok->appl_need_kick, (uint32_t)(v >> 32),
					 __ATOMIC_RELAXED);
			__atomic_store_n(&r->atok->sync_flags, (uint32_t)(v >> 16),
					 __ATOMIC_RELAXED);
			break;
		case 7:		/* the kernel's own entry, scribbled */
			__atomic_store_n(&r->ktoa->hwcur, (uint32_t)(v >> 32), __ATOMIC_RELAXED);
			__atomic_store_n(&r->ktoa->hwtail, (uint32_t)v, __ATOMIC_RELAXED);
			break;
		default:	/* back to sane values now and then */
			g_read(r, &r->rx_seen, &r->head);
			if (r->head < r->n)
				g_publish(r, r->head);
			break;
		}
		if (!(it & 15) && r->io >= 0 &&
		    write(r->io, &one, sizeof(one)) == sizeof(one))
			g->kicks++;
		if (!(it & 4095))
			sched_yield();
	}
	g->iterations = it;
	g->st.toc = gen_now();
}

/* ---------------------------------------------------------------------- */
/* The peer: the other end, with ordinary ioctl syncs                      */
/* ---------------------------------------------------------------------- */

static int p_poll(struct peer *p, short events)
{
	struct pollfd pfd = { .fd = p->port.fd, .events = events };
	int r = poll(&pfd, 1, SLICE_MS);

	if (r < 0 && errno != EINTR) {
		p->error = strerror(errno);
		return -1;
	}
	if (r > 0 && (pfd.revents & (POLLERR | POLLNVAL))) {
		/* Next to a hostile guest, bad slots come back: go on. */
		if (p->hostile && !(pfd.revents & POLLNVAL)) {
			p->st.errors++;
			return 0;
		}
		p->error = "poll reported an error on the peer port";
		return -1;
	}
	return r;
}

static void p_rx_round(struct peer *p, uint64_t *got)
{
	const struct gen_opts *o = p->o;
	unsigned int k;

	for (k = p->port.rings.first_rx; k <= p->port.rings.last_rx; k++) {
		struct netmap_ring *ring = nm_port_rxring(&p->port, k);
		uint32_t head = ring->head, tail = ring->tail;
		uint64_t left = o->count && !p->hostile ?
				o->count - p->st.packets : UINT64_MAX;
		int partial;

		*got += drain_frames(&p->port, ring, &head, tail, left,
				     o->verify && !p->hostile, &p->st,
				     &p->checker, &partial);
		ring->head = head;
		ring->cur = partial ? tail : head;
	}
}

/* Frames on every tx ring; ring k is stream k, with its own sequence. */
static void p_tx_round(struct peer *p, uint64_t *seq, uint64_t quota,
		       uint64_t budget)
{
	const struct gen_opts *o = p->o;
	unsigned int k;

	for (k = p->port.rings.first_tx; k <= p->port.rings.last_tx; k++) {
		struct netmap_ring *ring = nm_port_txring(&p->port, k);
		uint64_t want = nm_ring_space(ring) / frags_for(ring, o->len);
		uint64_t *rseq = &p->seq[k % GEN_MAX_THREADS], before = *rseq;
		uint32_t i = ring->head;

		if (want > o->burst)
			want = o->burst;
		if (want > budget)
			want = budget;
		if (quota && want > quota - *seq)
			want = quota - *seq;
		if (!want)
			continue;
		budget -= want;
		fill_frames(&p->port, ring, &i, want, rseq, o->len,
			    (uint16_t)(k % GEN_MAX_THREADS));
		*seq += *rseq - before;
		nm_ring_advance(ring, i);
	}
}

static void *p_main(void *arg)
{
	struct peer *p = (struct peer *)arg;
	const struct gen_opts *o = p->o;
	double start = gen_now();
	uint64_t seq = 0;

	gen_pin_cpu(o, 1);
	while (!gen_stop && !p->error) {
		uint64_t got = 0, before = seq;
		double now;

		if (p->hostile || p->role == GEN_RX) {
			if (p_poll(p, POLLIN) < 0)
				break;
			p_rx_round(p, &got);
		}
		if (p->hostile || p->role == GEN_TX) {
			uint64_t budget = UINT64_MAX;

			if (!p->hostile && !p->st.tic)
				p->st.tic = gen_now();
			if (!p->hostile)
				budget = gen_rate_allowance(p->rate, p->st.tic, seq);
			p_tx_round(p, &seq, p->hostile ? 0 : o->count, budget);
			if (!budget)
				gen_sleep(1e-4);
			else if (p_poll(p, POLLOUT) < 0)
				break;
			if (!budget && ioctl(p->port.fd, NIOCTXSYNC, NULL) < 0 &&
			    !p->hostile)
				p->error = strerror(errno);
			if (!p->hostile) {
				p->st.packets = seq;
				p->st.bytes = seq * o->len;
				p->st.toc = gen_now();
			}
		}
		now = gen_now();
		if (got && p->role == GEN_RX) {
			if (!p->st.tic)
				p->st.tic = now;
			p->st.toc = now;
		}
		if (got || seq != before)
			p->st.events++;
		if (p->hostile) {
			if (*p->guest_done)
				break;
			continue;
		}
		if (p->role == GEN_TX && o->count && seq >= o->count)
			break;
		if (p->role == GEN_RX && o->count && p->st.packets >= o->count)
			break;
		if (o->timeout && now - start >= o->timeout)
			break;
		if (p->role == GEN_RX && p->st.tic && now - p->st.toc >= o->idle)
			break;
		if (p->role == GEN_RX && !p->st.tic && *p->guest_done &&
		    now - start >= o->idle)
			break;
	}
	/* A pipe moves frames only at syncs: sync until the receiver took all. */
	if (p->role == GEN_TX && !p->hostile)
		gen_tx_drain(&p->port, p->o->idle > 1 ? p->o->idle : 1, &p->error);
	/* Give the consumed rx slots back so the last frames complete. */
	ioctl(p->port.fd, NIOCRXSYNC, NULL);
	return NULL;
}

/* ---------------------------------------------------------------------- */
/* Setup: the port, the CSB, the eventfds and the kloop thread             */
/* ---------------------------------------------------------------------- */

static void g_open(struct guest *g)
{
	const struct gen_opts *o = g->o;
	struct nm_ring_range *rr = &g->port.rings;
	size_t size;
	unsigned int k, ntx, nrx;

	if (nm_port_prepare(&g->port, o->port))
		gen_usage_error(o, "-i: %s", g->port.errmsg);
	g->port.reg.nr_flags |= NR_EXCLUSIVE;	/* CSB mode requires it */
	if (nm_port_register(&g->port))
		gen_fatal(o, "%s", g->port.errmsg);
	ntx = rr->first_tx <= rr->last_tx ? rr->last_tx - rr->first_tx + 1u : 0;
	nrx = rr->first_rx <= rr->last_rx ? rr->last_rx - rr->first_rx + 1u : 0;
	g->ntx = ntx;
	g->nrings = ntx + nrx;
	if (!g->nrings || g->nrings > 64)
		gen_fatal(o, "%s: %u rings bound", o->port, g->nrings);
	if ((o->role == GEN_TX && !ntx) || (o->role == GEN_RX && !nrx))
		gen_fatal(o, "%s: no %s ring bound", o->port,
			  o->role == GEN_TX ? "tx" : "rx");

	size = (size_t)g->nrings * sizeof(struct nm_csb_atok);
	g->atok = aligned_alloc(CSB_ALIGN, size);
	g->ktoa = aligned_alloc(CSB_ALIGN, size);
	g->r = calloc(g->nrings, sizeof(*g->r));
	if (!g->atok || !g->ktoa || !g->r)
		gen_fatal(o, "out of memory");
	memset(g->atok, 0, size);
	memset(g->ktoa, 0, size);
	for (k = 0; k < g->nrings; k++) {
		struct g_ring *r = &g->r[k];

		r->tx = k < ntx;
		r->ring = r->tx ? nm_port_txring(&g->port, rr->first_tx + k) :
				  nm_port_rxring(&g->port, rr->first_rx + k - ntx);
		r->n = r->ring->num_slots;
		r->atok = &g->atok[k];
		r->ktoa = &g->ktoa[k];
		r->io = r->irq = -1;
		if (r->tx && frags_for(r->ring, o->len) > NM_MAX_FRAGS)
			gen_fatal(o, "-l %u: too many slots per frame", o->len);
		if (g->ko->mode == KL_SLEEP)
			continue;
		r->io = eventfd(0, EFD_CLOEXEC);
		r->irq = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (r->io < 0 || r->irq < 0)
			gen_fatal(o, "eventfd: %s", strerror(errno));
	}
}

static void g_csb_enable(struct guest *g)
{
	struct nmreq_opt_csb opt;
	struct nmreq_header hdr;
	unsigned int k;

	nm_req_init(&hdr, NETMAP_REQ_CSB_ENABLE, g->port.hdr.nr_name, NULL);
	memset(&opt, 0, sizeof(opt));
	opt.csb_atok = (uint64_t)(uintptr_t)g->atok;
	opt.csb_ktoa = (uint64_t)(uintptr_t)g->ktoa;
	nm_req_push_option(&hdr, &opt.nro_opt, NETMAP_REQ_OPT_CSB, sizeof(opt));
	if (ioctl(g->port.fd, NIOCCTRL, &hdr) < 0)
		gen_fatal(g->o, "CSB_ENABLE on %s: %s (option status %u)",
			  g->port.hdr.nr_name, strerror(errno),
			  opt.nro_opt.nro_status);
	/* The kernel filled both arrays from the rings. */
	for (k = 0; k < g->nrings; k++) {
		struct g_ring *r = &g->r[k];
		uint32_t hwtail, hwcur;

		g_read(r, &hwtail, &hwcur);
		r->head = r->atok->head;
		r->rx_seen = hwtail;
	}
}

static void *kloop_main(void *arg)
{
	struct guest *g = (struct guest *)arg;
	struct gen_opts pin = *g->o;
	struct nmreq_sync_kloop_start body = { .sleep_us = g->ko->sleep_us };
	struct nmreq_opt_sync_kloop_mode mode;
	struct nmreq_opt_sync_kloop_eventfds *efds = NULL;
	struct nmreq_header hdr;
	size_t esize = sizeof(*efds) + g->nrings * sizeof(efds->eventfds[0]);
	unsigned int k;

	if (g->ko->kloop_cpu >= 0)
		pin.cpu = g->ko->kloop_cpu;
	gen_pin_cpu(&pin, 0);
	nm_req_init(&hdr, NETMAP_REQ_SYNC_KLOOP_START, g->port.hdr.nr_name,
		    &body);
	if (g->ko->mode != KL_SLEEP) {
		efds = calloc(1, esize);
		if (!efds) {
			g->kloop_ret = ENOMEM;
			goto out;
		}
		for (k = 0; k < g->nrings; k++) {
			efds->eventfds[k].ioeventfd = g->r[k].io;
			efds->eventfds[k].irqfd = g->r[k].irq;
		}
		nm_req_push_option(&hdr, &efds->nro_opt,
				   NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS, esize);
	}
	if (g->ko->mode == KL_DIRECT_TX || g->ko->mode == KL_DIRECT_RX) {
		memset(&mode, 0, sizeof(mode));
		mode.mode = g->ko->mode == KL_DIRECT_TX ?
			    NM_OPT_SYNC_KLOOP_DIRECT_TX :
			    NM_OPT_SYNC_KLOOP_DIRECT_RX;
		nm_req_push_option(&hdr, &mode.nro_opt,
				   NETMAP_REQ_OPT_SYNC_KLOOP_MODE, sizeof(mode));
	}
	g->kloop_ret = ioctl(g->port.fd, NIOCCTRL, &hdr) < 0 ? errno : 0;
out:
	free(efds);
	__atomic_store_n(&g->kloop_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * SYNC_KLOOP_STOP, then join: a STOP that comes before the thread entered
 * the loop stays pending and ends its START at once.
 */
static void g_stop_kloop(struct guest *g)
{
	struct nmreq_header hdr;

	if (!__atomic_load_n(&g->kloop_done, __ATOMIC_ACQUIRE)) {
		nm_req_init(&hdr, NETMAP_REQ_SYNC_KLOOP_STOP,
			    g->port.hdr.nr_name, NULL);
		if (ioctl(g->port.fd, NIOCCTRL, &hdr))
			fprintf(stderr, "%s: SYNC_KLOOP_STOP: %s\n", g->o->prog,
				strerror(errno));
	}
	pthread_join(g->kloop_tid, NULL);
}

/* ---------------------------------------------------------------------- */
/* Command line and report                                                 */
/* ---------------------------------------------------------------------- */

#define kl_usage_error(...)	gen_die(2, tool.name, "-h", __VA_ARGS__)

/* Take our options out of argv; the rest goes to gen_parse_args(). */
static int kl_parse(int argc, char **argv, struct kl_opts *ko)
{
	int in, out = 1;

	memset(ko, 0, sizeof(*ko));
	ko->mode = KL_EVENTFD;
	ko->seed = 1;
	ko->kloop_cpu = -1;
	for (in = 1; in < argc; in++) {
		const char *a = argv[in];
		const char *v = in + 1 < argc ? argv[in + 1] : NULL;
		char *end;

		if (!strcmp(a, "--hostile")) {
			ko->hostile = 1;
			continue;
		}
		if (strcmp(a, "--mode") && strcmp(a, "--sleep-us") &&
		    strcmp(a, "--peer") && strcmp(a, "--seed") &&
		    strcmp(a, "--peer-rate") && strcmp(a, "--kloop-cpu")) {
			argv[out++] = argv[in];
			continue;
		}
		if (!v)
			kl_usage_error("option %s needs a value", a);
		in++;
		if (!strcmp(a, "--peer")) {
			ko->peer = v;
		} else if (!strcmp(a, "--peer-rate")) {
			ko->peer_rate = strtod(v, &end);
			if (end == v || *end || !(ko->peer_rate > 0))
				kl_usage_error("--peer-rate: expected packets per second, got '%s'",
					       v);
		} else if (!strcmp(a, "--mode")) {
			unsigned int m;

			for (m = 0; m < 4 && strcmp(v, mode_names[m]); m++)
				;
			if (m == 4)
				kl_usage_error("--mode: expected sleep, eventfd, direct-tx or direct-rx, got '%s'",
					       v);
			ko->mode = (enum kl_mode)m;
		} else {
			unsigned long long x;

			errno = 0;
			x = strtoull(v, &end, 10);
			if (errno || end == v || *end || v[0] == '-' ||
			    (strcmp(a, "--seed") && x > UINT32_MAX) ||
			    (!strcmp(a, "--kloop-cpu") && x > 4095))
				kl_usage_error("bad number '%s'", v);
			if (!strcmp(a, "--seed"))
				ko->seed = x;
			else if (!strcmp(a, "--kloop-cpu"))
				ko->kloop_cpu = (int)x;
			else
				ko->sleep_us = (uint32_t)x;
		}
	}
	argv[out] = NULL;
	return out;
}

static const char *norm(char *buf, size_t size, double val, int normalize)
{
	static const char *const units[] = { "", "K", "M", "G" };
	unsigned int i = 0;

	if (!normalize) {
		snprintf(buf, size, "%.0f ", val);
		return buf;
	}
	while (val >= 1000 && i < 3) {
		val /= 1000;
		i++;
	}
	snprintf(buf, size, "%.3f %s", val, units[i]);
	return buf;
}

static void json_stats(const char *role, const struct gen_stats *st)
{
	double secs = st->packets && st->toc > st->tic ? st->toc - st->tic : 0;

	printf("\"role\": \"%s\", \"packets\": %llu, \"bytes\": %llu, "
	       "\"seconds\": %.6f, \"pps\": %.3f, \"bps\": %.3f, "
	       "\"errors\": %llu, \"lost\": %llu",
	       role, (unsigned long long)st->packets,
	       (unsigned long long)st->bytes, secs,
	       secs > 0 ? (double)st->packets / secs : 0,
	       secs > 0 ? 8.0 * (double)st->bytes / secs : 0,
	       (unsigned long long)st->errors, (unsigned long long)st->lost);
}

static void report(const struct guest *g, const struct peer *p,
		   long long errors_delta)
{
	const struct gen_opts *o = g->o;
	const struct gen_stats *st = &g->st;
	FILE *out = o->json ? stderr : stdout;
	double secs = st->packets && st->toc > st->tic ? st->toc - st->tic : 0;
	double pps = secs > 0 ? (double)st->packets / secs : 0;
	double bps = secs > 0 ? 8.0 * (double)st->bytes / secs : 0;
	const char *role = g->ko->hostile ? "hostile" :
			   o->role == GEN_TX ? "tx" : "rx";
	char b1[48], b2[48];

	if (g->ko->hostile)
		fprintf(out, "Hostile: %llu random CSB/slot writes, %llu kicks in %.2f seconds; kloop_errors +%lld\n",
			(unsigned long long)g->iterations,
			(unsigned long long)g->kicks,
			st->toc - st->tic, errors_delta);
	else
		fprintf(out, "%s %llu packets %llu bytes %llu events in %.2f seconds (kloop %s: %llu kicks, %llu waits).\n",
			o->role == GEN_TX ? "Sent" : "Received",
			(unsigned long long)st->packets,
			(unsigned long long)st->bytes,
			(unsigned long long)st->events, secs,
			mode_names[g->ko->mode],
			(unsigned long long)g->kicks,
			(unsigned long long)g->irq_waits);
	if (o->verify && o->role == GEN_RX && !g->ko->hostile)
		fprintf(out, "Errors: %llu, lost: %llu\n",
			(unsigned long long)st->errors,
			(unsigned long long)st->lost);
	if (p)
		fprintf(out, "Peer %s: %llu packets, errors %llu, lost %llu\n",
			p->role == GEN_TX ? "tx" : "rx",
			(unsigned long long)p->st.packets,
			(unsigned long long)p->st.errors,
			(unsigned long long)p->st.lost);
	fprintf(out, "Speed: %spps Bandwidth: %sbps. Average batch: %.2f pkts\n",
		norm(b1, sizeof(b1), pps, o->normalize),
		norm(b2, sizeof(b2), bps, o->normalize),
		st->events ? (double)st->packets / (double)st->events : 0);
	fflush(out);
	if (!o->json)
		return;
	printf("{");
	json_stats(role, st);
	printf(", \"mode\": \"%s\", \"sleep_us\": %u, \"kicks\": %llu, "
	       "\"irq_waits\": %llu, \"kloop_errno\": %d, \"kloop_errors\": %lld",
	       mode_names[g->ko->mode], g->ko->sleep_us,
	       (unsigned long long)g->kicks,
	       (unsigned long long)g->irq_waits, g->kloop_ret, errors_delta);
	if (g->ko->hostile)
		printf(", \"iterations\": %llu", (unsigned long long)g->iterations);
	if (p) {
		printf(", \"peer\": {");
		json_stats(p->role == GEN_TX ? "tx" : "rx", &p->st);
		printf("}");
	}
	printf("}\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static struct guest g;
	static struct peer p;
	struct kl_opts ko;
	struct gen_opts o;
	volatile int guest_done = 0;
	long long errors0;
	unsigned int k;
	int failed = 0, err;

	argc = kl_parse(argc, argv, &ko);
	gen_parse_args(argc, argv, &tool, &o);
	if (o.role != GEN_TX && o.role != GEN_RX)
		gen_usage_error(&o, "-f: the guest side is tx or rx");
	if (ko.hostile && !o.count)
		gen_usage_error(&o, "--hostile needs -n ITERATIONS");
	gen_template_init(&o);
	g.o = &o;
	g.ko = &ko;
	g_open(&g);
	if (ko.peer) {
		p.o = &o;
		p.hostile = ko.hostile;
		p.rate = ko.peer_rate;
		p.role = o.role == GEN_TX ? GEN_RX : GEN_TX;
		p.guest_done = &guest_done;
		if (nm_port_open(&p.port, ko.peer, 0))
			gen_fatal(&o, "--peer: %s", p.port.errmsg);
	}
	g_csb_enable(&g);
	if (o.verbose)
		fprintf(stderr, "%s: %s bound exclusively, %u tx + %u rx rings, CSB at %p/%p, mode %s\n",
			o.prog, g.port.hdr.nr_name, g.ntx, g.nrings - g.ntx,
			(void *)g.atok, (void *)g.ktoa, mode_names[ko.mode]);
	errors0 = module_param("kloop_errors");
	gen_install_signals();
	err = pthread_create(&g.kloop_tid, NULL, kloop_main, &g);
	if (err)
		gen_fatal(&o, "cannot start the kloop thread: %s", strerror(err));
	if (ko.peer) {
		err = pthread_create(&p.tid, NULL, p_main, &p);
		if (err)
			gen_fatal(&o, "cannot start the peer thread: %s",
				  strerror(err));
	}
	/* -a: the guest (and the kloop) on CPU, the peer on CPU + 1. */
	gen_pin_cpu(&o, 0);
	gen_wait_start(&o);
	if (ko.hostile)
		g_hostile(&g);
	else if (o.role == GEN_TX)
		g_tx(&g);
	else
		g_rx(&g);
	guest_done = 1;
	if (ko.peer)
		pthread_join(p.tid, NULL);
	g_stop_kloop(&g);
	if (g.kloop_ret) {
		fprintf(stderr, "%s: error: SYNC_KLOOP_START: %s\n", o.prog,
			strerror(g.kloop_ret));
		failed = 1;
	}
	if (g.error && !ko.hostile) {
		fprintf(stderr, "%s: error: %s\n", o.prog, g.error);
		failed = 1;
	}
	if (p.error) {
		fprintf(stderr, "%s: error: peer: %s\n", o.prog, p.error);
		failed = 1;
	}
	report(&g, ko.peer ? &p : NULL,
	       errors0 >= 0 ? module_param("kloop_errors") - errors0 : -1);
	if (o.verify && !ko.hostile &&
	    (g.st.errors || g.st.lost || p.st.errors || p.st.lost))
		failed = 1;
	if (ko.peer && !ko.hostile && o.count &&
	    (g.st.packets != o.count || p.st.packets != o.count))
		failed = 1;
	for (k = 0; k < g.nrings; k++) {
		if (g.r[k].io >= 0)
			close(g.r[k].io);
		if (g.r[k].irq >= 0)
			close(g.r[k].irq);
	}
	if (ko.peer)
		nm_port_close(&p.port);
	nm_port_close(&g.port);
	free(g.atok);
	free(g.ktoa);
	free(g.r);
	return failed;
}
