// SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause
/*
 * pkt-gen: a netmap traffic generator and sink, with pkt-gen's usual
 * command line. Ports are bound with NIOCCTRL (nm_port_* helpers of
 * netmap_user.h); any spec they parse works: netmap:IF[-N|^|*], valeS:P,
 * X{N and X}N pipe ends, /flags and @conf: options.
 *
 * tx  fills UDP/IPv4 frames (see gen.h) on every bound tx ring, at most
 *     -b per ring per poll(POLLOUT); frames longer than a buffer span
 *     several slots chained with NS_MOREFRAG. A buffer is written once:
 *     a slot is filled again only when the kernel put another buffer
 *     there (a pipe that swaps buffers) or set NS_BUF_CHANGED; only with
 *     --verify does each frame get its sequence number.
 * rx  counts packets (a chain of slots is one packet) and, with --verify,
 *     checks each frame's pattern and sequence number; stops after -n
 *     packets or after --idle seconds without traffic once it started.
 * ping sends one frame, waits for the answer, and measures the RTT.
 * pong answers every frame with the addresses swapped (a copy).
 *
 * With -p N > 1 each thread binds one ring pair (NR_REG_ONE_NIC, ring i),
 * and -n COUNT is the total over all threads.
 *
 * Two loop styles: one poll() per batch, then every available slot of
 * every bound ring (the default, as netmap's pkt-gen), or with --busy-wait
 * NIOCTXSYNC/NIOCRXSYNC in a loop, never sleeping in poll().
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NETMAP_WITH_LIBS
#include <net/netmap_user.h>

#include "gen.h"

/* Poll slice: how often the loops look at gen_stop and the deadlines. */
#define SLICE_MS		100

/* What a tx slot's buffer holds: which buffer, filled from which offset. */
struct tx_mark {
	uint32_t buf;
	uint32_t ofs;
};

struct thread {
	unsigned int id;
	const struct gen_opts *o;
	struct nm_port port;
	struct tx_mark **marks;		/* per bound tx ring, per slot */
	unsigned int nmarks;
	uint64_t quota;			/* tx: packets to send, with -n */
	struct gen_stats st;
	struct gen_checker checker;
	const char *error;		/* why the thread stopped early */
	pthread_t tid;
};

static uint64_t rx_total;		/* packets received by all threads */

static const char tool_extra_help[] =
	"\n"
	"PORT is a netmap port spec: netmap:IF (with -N, ^, ^N or * to pick rings),\n"
	"valeS:P, or a pipe end X{N (master) or X}N (slave); /x /R /T flags and\n"
	"@conf:rings=N,slots=N options may follow.\n";

static const struct gen_tool tool = {
	.name = "pkt-gen",
	.port_help = "the netmap port (see below)",
	.max_threads = GEN_MAX_THREADS,
	.extra_help = tool_extra_help,
	.loops = 1,
};

static int ms_until(double deadline)
{
	double left = deadline - gen_now();

	if (left <= 0)
		return 0;
	return left * 1000 < SLICE_MS ? (int)(left * 1000) + 1 : SLICE_MS;
}

/*
 * poll() the port; with --busy-wait, the sync ioctl of that direction
 * instead, which returns at once. -1 (with t->error set) on a hard error.
 */
static int wait_port(struct thread *t, short events, int timeout_ms)
{
	struct pollfd pfd = { .fd = t->port.fd, .events = events };
	int r;

	if (t->o->busy) {
		if (ioctl(t->port.fd, events & POLLOUT ? NIOCTXSYNC : NIOCRXSYNC,
			  NULL) < 0) {
			t->error = strerror(errno);
			return -1;
		}
		return 1;
	}
	r = poll(&pfd, 1, timeout_ms);

	if (r < 0 && errno != EINTR) {
		t->error = strerror(errno);
		return -1;
	}
	if (r > 0 && (pfd.revents & (POLLERR | POLLNVAL))) {
		t->error = "poll reported an error on the port";
		return -1;
	}
	return r;
}

static int sync_port(struct thread *t, unsigned long req)
{
	t->st.events++;
	if (ioctl(t->port.fd, req, NULL) < 0) {
		t->error = strerror(errno);
		return -1;
	}
	return 0;
}

/*
 * Give the consumed rx slots back before leaving, so that a pipe or VALE
 * sender sees its last frames complete.
 */
static void release_rx(struct thread *t)
{
	ioctl(t->port.fd, NIOCRXSYNC, NULL);
}

/* Slots one frame of len bytes needs in ring. */
static uint32_t frags_for(const struct netmap_ring *ring, unsigned int len)
{
	return (len + ring->nr_buf_size - 1) / ring->nr_buf_size;
}

/*
 * Queue up to want frames on tx ring r; returns how many. A slot's buffer
 * is written only when it is not the one filled there last time (or the
 * kernel flagged it changed); numbered frames get their sequence number.
 */
static uint64_t tx_fill(struct thread *t, unsigned int r, uint64_t want,
			uint64_t *seq, int numbered)
{
	struct netmap_ring *ring = nm_port_txring(&t->port, r);
	struct tx_mark *mark = t->marks[r - t->port.rings.first_tx];
	unsigned int len = t->o->len, bufsz = ring->nr_buf_size;
	uint32_t nfrags = frags_for(ring, len);
	uint64_t n = nm_ring_space(ring) / nfrags, k;
	uint32_t i = ring->head;

	if (n > want)
		n = want;
	for (k = 0; k < n; k++, (*seq)++) {
		unsigned int ofs = 0;

		while (ofs < len) {
			struct netmap_slot *slot = &ring->slot[i];
			unsigned int flen = len - ofs < bufsz ? len - ofs : bufsz;
			uint32_t idx = slot->buf_idx;
			uint8_t *buf = (uint8_t *)NETMAP_BUF(ring, idx);

			if (mark[i].buf != idx || mark[i].ofs != ofs ||
			    (slot->flags & NS_BUF_CHANGED)) {
				gen_fill_plain(buf, ofs, flen);
				mark[i].buf = idx;
				mark[i].ofs = ofs;
			}
			if (numbered && ofs == 0)
				gen_number(buf, *seq, (uint16_t)t->id);
			slot->len = (uint16_t)flen;
			ofs += flen;
			slot->flags = ofs < len ? NS_MOREFRAG : 0;
			i = nm_ring_next(ring, i);
		}
	}
	nm_ring_advance(ring, i);
	return n;
}

/* A tx ring with room for one frame of len bytes, or -1. */
static int tx_ring_with_room(struct thread *t, unsigned int len)
{
	unsigned int r;

	for (r = t->port.rings.first_tx; r <= t->port.rings.last_tx; r++) {
		struct netmap_ring *ring = nm_port_txring(&t->port, r);

		if (nm_ring_space(ring) >= frags_for(ring, len))
			return (int)r;
	}
	return -1;
}

/*
 * After the last frame: wait while completions progress; closing the port
 * earlier could drop frames not delivered yet.
 */
static void tx_drain(struct thread *t, double linger)
{
	uint64_t pending = gen_tx_drain(&t->port, linger, &t->error);

	if (pending && !t->error && t->o->verbose)
		fprintf(stderr, "%s: thread %u: %llu tx slots not completed after %.1f s without progress\n",
			t->o->prog, t->id, (unsigned long long)pending, linger);
}

static void tx_body(struct thread *t)
{
	const struct gen_opts *o = t->o;
	double rate = o->rate / o->threads, t0;
	double linger = o->idle > 1 ? o->idle : 1;
	uint64_t seq = 0;

	t0 = t->st.tic = gen_now();
	while (!gen_stop && (!o->count || seq < t->quota)) {
		uint64_t budget, round_start = seq;
		int turn = gen_pace(o, rate, t0, seq, 0.1, &budget);
		unsigned int r;

		if (turn < 0)
			break;
		if (!turn)
			continue;
		/* Unpaced, poll() is the sync; paced, TXSYNC below is. */
		if (rate <= 0 || tx_ring_with_room(t, o->len) < 0) {
			if (wait_port(t, POLLOUT, SLICE_MS) < 0)
				goto out;
			t->st.events++;
		}
		for (r = t->port.rings.first_tx; r <= t->port.rings.last_tx; r++) {
			uint64_t want = o->burst < budget ? o->burst : budget;

			if (o->count && want > t->quota - seq)
				want = t->quota - seq;
			if (!want)
				break;
			budget -= tx_fill(t, r, want, &seq, o->verify);
		}
		t->st.packets = seq;
		t->st.bytes = seq * o->len;
		if (rate > 0 && seq > round_start && sync_port(t, NIOCTXSYNC) < 0)
			goto out;
	}
	/* Hand the last frames to the kernel; the run ends there. */
	if (sync_port(t, NIOCTXSYNC) == 0) {
		t->st.toc = gen_now();
		tx_drain(t, linger);
		return;
	}
out:
	t->st.toc = gen_now();
}

/*
 * The chain of slots starting at i: its slot count and total length.
 * Returns 0 when it is complete before the tail, -1 otherwise.
 */
static int chain_at(const struct netmap_ring *ring, uint32_t i, uint32_t *n,
		    unsigned int *total)
{
	*n = 0;
	*total = 0;
	for (;;) {
		const struct netmap_slot *slot = &ring->slot[i];

		(*n)++;
		*total += slot->len;
		i = nm_ring_next(ring, i);
		if (!(slot->flags & NS_MOREFRAG) || *n >= NM_MAX_FRAGS)
			return 0;
		if (i == ring->tail)
			return -1;
	}
}

/* Check a received chain with --verify (and its sequence, if check_seq). */
static void verify_chain(struct thread *t, const struct netmap_ring *ring,
			 uint32_t i, uint32_t n, unsigned int total,
			 int check_seq)
{
	const struct netmap_slot *first = &ring->slot[i];
	const uint8_t *f = (const uint8_t *)NETMAP_BUF(ring, first->buf_idx);
	unsigned int ofs = 0;
	uint16_t stream;
	uint64_t seq;
	uint32_t k;

	if (gen_frame_seq(f, first->len, &seq, &stream) ||
	    gen_check_length(f, total)) {
		t->st.errors++;
		return;
	}
	for (k = 0; k < n; k++, i = nm_ring_next(ring, i)) {
		const struct netmap_slot *slot = &ring->slot[i];

		if (gen_check_fragment((const uint8_t *)NETMAP_BUF(ring, slot->buf_idx),
				       ofs, slot->len)) {
			t->st.errors++;
			return;
		}
		ofs += slot->len;
	}
	if (check_seq)
		gen_check_seq(&t->checker, &t->st, seq, stream);
}

/* Copy one received chain to tx, addresses swapped; 0 if no room. */
static int pong_answer(struct thread *t, struct netmap_ring *rx, uint32_t i,
		       uint32_t n)
{
	struct netmap_ring *tx = NULL;
	unsigned int r;
	uint32_t j, k;

	for (r = t->port.rings.first_tx; r <= t->port.rings.last_tx; r++) {
		tx = nm_port_txring(&t->port, r);
		if (nm_ring_space(tx) >= n)
			break;
		tx = NULL;
	}
	if (!tx)
		return 0;
	j = tx->head;
	for (k = 0; k < n; k++) {
		const struct netmap_slot *src = &rx->slot[i];
		struct netmap_slot *dst = &tx->slot[j];
		uint8_t *buf = (uint8_t *)NETMAP_BUF(tx, dst->buf_idx);
		unsigned int len = src->len;

		if (len > tx->nr_buf_size)
			len = tx->nr_buf_size;
		memcpy(buf, NETMAP_BUF(rx, src->buf_idx), len);
		if (k == 0 && len >= GEN_HDR_LEN)
			gen_swap_addresses(buf);
		dst->len = (uint16_t)len;
		dst->flags = k + 1 < n ? NS_MOREFRAG : 0;
		i = nm_ring_next(rx, i);
		j = nm_ring_next(tx, j);
	}
	nm_ring_advance(tx, j);
	return 1;
}

/*
 * Consume up to limit packets of ring. With blocked (pong), answer each one
 * first; when tx has no room for an answer, stop there and set *blocked.
 */
static uint64_t rx_drain(struct thread *t, struct netmap_ring *ring,
			 uint64_t limit, int *blocked)
{
	uint32_t i = ring->head, n;
	unsigned int total;
	uint64_t got = 0;
	int partial = 0;

	while (i != ring->tail && got < limit) {
		if (chain_at(ring, i, &n, &total)) {
			partial = 1;
			break;
		}
		if (blocked && !pong_answer(t, ring, i, n)) {
			*blocked = 1;
			break;
		}
		if (t->o->verify)
			verify_chain(t, ring, i, n, total, 1);
		got++;
		t->st.bytes += total;
		while (n--)
			i = nm_ring_next(ring, i);
	}
	ring->head = i;
	ring->cur = partial ? ring->tail : i;
	t->st.packets += got;
	__atomic_add_fetch(&rx_total, got, __ATOMIC_RELAXED);
	return got;
}

/*
 * Stop rules shared by rx and pong, after a round that got packets
 * (already added to rx_total); updates the activity times.
 */
static int idle_done(struct thread *t, uint64_t got, double start,
		     double woke)
{
	const struct gen_opts *o = t->o;
	double now = gen_now();

	if (got) {
		if (!t->st.tic)
			t->st.tic = woke;
		t->st.toc = now;
		t->st.events++;
	}
	if (o->count && __atomic_load_n(&rx_total, __ATOMIC_RELAXED) >= o->count)
		return 1;
	if (o->timeout && now - start >= o->timeout)
		return 1;
	return t->st.tic && now - t->st.toc >= o->idle;
}

/* Packets still wanted by -n (UINT64_MAX without -n). */
static uint64_t rx_left(const struct gen_opts *o)
{
	uint64_t done = __atomic_load_n(&rx_total, __ATOMIC_RELAXED);

	if (!o->count)
		return UINT64_MAX;
	return done < o->count ? o->count - done : 0;
}

/* rx, and pong (answer set): receive until -n, --idle or --timeout. */
static void rx_body(struct thread *t, int answer)
{
	double start = gen_now();

	while (!gen_stop) {
		uint64_t got = 0;
		unsigned int r;
		int blocked = 0;
		double woke;

		if (wait_port(t, POLLIN, SLICE_MS) < 0)
			return;
		woke = gen_now();
		for (r = t->port.rings.first_rx;
		     r <= t->port.rings.last_rx && !blocked; r++)
			got += rx_drain(t, nm_port_rxring(&t->port, r),
					rx_left(t->o), answer ? &blocked : NULL);
		if (answer && got && sync_port(t, NIOCTXSYNC) < 0)
			return;
		if (blocked && wait_port(t, POLLOUT, SLICE_MS) < 0)
			return;
		if (idle_done(t, got, start, woke))
			break;
	}
	release_rx(t);
}

/* Look for the answer to seq on every rx ring, consuming everything. */
static int ping_collect(struct thread *t, uint64_t seq)
{
	int found = 0;
	unsigned int r;

	for (r = t->port.rings.first_rx; r <= t->port.rings.last_rx; r++) {
		struct netmap_ring *ring = nm_port_rxring(&t->port, r);
		uint32_t i = ring->head, n;
		unsigned int total;

		while (i != ring->tail && !chain_at(ring, i, &n, &total)) {
			const struct netmap_slot *s = &ring->slot[i];
			const uint8_t *f = (const uint8_t *)NETMAP_BUF(ring, s->buf_idx);
			uint64_t got_seq;
			uint16_t stream;

			if (!gen_frame_seq(f, s->len, &got_seq, &stream) &&
			    got_seq == seq && !found) {
				found = 1;
				t->st.bytes += total;
				if (t->o->verify)
					verify_chain(t, ring, i, n, total, 0);
			}
			while (n--)
				i = nm_ring_next(ring, i);
		}
		ring->head = i;
		ring->cur = ring->tail;
	}
	return found;
}

static void ping_body(struct thread *t)
{
	const struct gen_opts *o = t->o;
	double t0 = gen_now();
	uint64_t seq = 0;

	t->st.tic = t0;
	while (!gen_stop && (!o->count || seq < o->count)) {
		double sent_at, deadline;
		int ring;
		uint64_t next_seq = seq;
		int found = 0, turn = gen_pace(o, o->rate, t0, seq, HUGE_VAL, NULL);

		if (turn < 0)
			break;
		if (!turn)
			continue;
		ring = tx_ring_with_room(t, o->len);
		if (ring < 0) {
			if (wait_port(t, POLLOUT, SLICE_MS) < 0)
				return;
			t->st.events++;
			continue;
		}
		sent_at = gen_now();
		tx_fill(t, (unsigned int)ring, 1, &next_seq, 1);
		if (sync_port(t, NIOCTXSYNC) < 0)
			return;
		deadline = sent_at + o->idle;
		while (!gen_stop && !found && gen_now() < deadline) {
			if (wait_port(t, POLLIN, ms_until(deadline)) < 0)
				return;
			t->st.events++;
			found = ping_collect(t, seq);
		}
		gen_ping_outcome(&t->st, found, sent_at);
		seq++;
	}
	t->st.toc = gen_now();
	release_rx(t);
}

static void *thread_main(void *arg)
{
	struct thread *t = (struct thread *)arg;

	gen_pin_cpu(t->o, t->id);
	switch (t->o->role) {
	case GEN_TX:
		tx_body(t);
		break;
	case GEN_RX:
		rx_body(t, 0);
		break;
	case GEN_PING:
		ping_body(t);
		break;
	case GEN_PONG:
		rx_body(t, 1);
		break;
	}
	return NULL;
}

/* Marks for every bound tx ring, none filled yet. */
static void alloc_marks(const struct gen_opts *o, struct thread *t)
{
	const struct nm_ring_range *rr = &t->port.rings;
	unsigned int r, n = rr->last_tx - rr->first_tx + 1;

	t->marks = (struct tx_mark **)calloc(n, sizeof(*t->marks));
	if (!t->marks)
		gen_fatal(o, "out of memory");
	t->nmarks = n;
	for (r = 0; r < n; r++) {
		uint32_t slots = nm_port_txring(&t->port, rr->first_tx + r)->num_slots;

		t->marks[r] = (struct tx_mark *)malloc(slots * sizeof(struct tx_mark));
		if (!t->marks[r])
			gen_fatal(o, "out of memory");
		memset(t->marks[r], 0xff, slots * sizeof(struct tx_mark));
	}
}

static void free_marks(struct thread *t)
{
	unsigned int r;

	for (r = 0; r < t->nmarks; r++)
		free(t->marks[r]);
	free(t->marks);
}

static void open_port(const struct gen_opts *o, struct thread *t)
{
	struct nm_port *p = &t->port;
	const struct nm_ring_range *rr = &p->rings;
	const struct netmap_ring *ring;
	int need_tx = o->role != GEN_RX, need_rx = o->role != GEN_TX;

	if (nm_port_prepare(p, o->port))
		gen_usage_error(o, "-i: %s", p->errmsg);
	if (o->threads > 1) {
		if (p->spec.mode != NR_REG_ALL_NIC)
			gen_usage_error(o, "-p %u: the port spec must bind all rings (no -N, ^ or *)",
					o->threads);
		p->reg.nr_mode = NR_REG_ONE_NIC;
		p->reg.nr_ringid = (uint16_t)t->id;
	}
	if (nm_port_register(p))
		gen_fatal(o, "%s", p->errmsg);
	if ((need_tx && rr->first_tx > rr->last_tx) ||
	    (need_rx && rr->first_rx > rr->last_rx))
		gen_fatal(o, "%s: thread %u has no %s ring", o->port, t->id,
			  need_tx && rr->first_tx > rr->last_tx ? "tx" : "rx");
	ring = need_tx ? nm_port_txring(p, rr->first_tx) :
			 nm_port_rxring(p, rr->first_rx);
	if (ring->nr_buf_size < 64)
		gen_fatal(o, "%s: buffers of %u bytes are too small", o->port,
			  ring->nr_buf_size);
	if (need_tx && frags_for(ring, o->len) > NM_MAX_FRAGS)
		gen_fatal(o, "-l %u: more than %u slots of %u bytes", o->len,
			  NM_MAX_FRAGS, ring->nr_buf_size);
	if (o->role == GEN_TX || o->role == GEN_PING)
		alloc_marks(o, t);
	if (o->verbose)
		fprintf(stderr, "%s: thread %u bound %s: mem id %u, %llu bytes; tx rings %u..%u, rx rings %u..%u of %u/%u; %u/%u slots of %u bytes\n",
			o->prog, t->id, p->hdr.nr_name, p->reg.nr_mem_id,
			(unsigned long long)p->memsize, rr->first_tx,
			rr->last_tx, rr->first_rx, rr->last_rx,
			p->reg.nr_tx_rings, p->reg.nr_rx_rings,
			p->reg.nr_tx_slots, p->reg.nr_rx_slots,
			ring->nr_buf_size);
}

int main(int argc, char **argv)
{
	struct gen_opts o;
	struct gen_stats all;
	struct thread *th;
	unsigned int i;
	int failed = 0;

	gen_parse_args(argc, argv, &tool, &o);
	gen_template_init(&o);
	th = (struct thread *)calloc(o.threads, sizeof(*th));
	if (!th)
		gen_fatal(&o, "out of memory");
	for (i = 0; i < o.threads; i++) {
		th[i].id = i;
		th[i].o = &o;
		th[i].quota = o.count / o.threads + (i < o.count % o.threads);
		open_port(&o, &th[i]);
	}
	gen_install_signals();
	gen_wait_start(&o);
	for (i = 0; i < o.threads; i++) {
		int err = pthread_create(&th[i].tid, NULL, thread_main, &th[i]);

		if (err)
			gen_fatal(&o, "cannot start a thread: %s", strerror(err));
	}
	memset(&all, 0, sizeof(all));
	for (i = 0; i < o.threads; i++) {
		pthread_join(th[i].tid, NULL);
		if (th[i].error) {
			fprintf(stderr, "%s: error: thread %u: %s\n", o.prog, i,
				th[i].error);
			failed = 1;
		}
		gen_stats_merge(&all, &th[i].st);
		free_marks(&th[i]);
		nm_port_close(&th[i].port);
	}
	free(th);
	gen_report(&o, &all);
	return failed ? 1 : gen_exit_code(&o, &all);
}
