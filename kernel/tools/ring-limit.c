// SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause
/*
 * ring-limit: what the machine allows a netmap pipe, measured without a
 * kernel. Two threads, pinned to two CPUs, move frames through one ring laid
 * out like a netmap ring (netmap_slot entries, head/cur/tail views), with no
 * system call: the sender's "txsync" publishes its head and reads how far
 * the receiver released, the receiver's "rxsync" does the reverse, both
 * with one acquire load and one release store in shared memory.
 *
 * The work per frame is the least pkt-gen does: the sender writes each
 * buffer once, before the start, and per frame only the slot's len and
 * flags, at most -b frames per round; the receiver drains every available
 * slot per round, reading each slot's len and flags. Slot positions are
 * locked together as in a netmap pipe: the frame in slot k comes back to the
 * sender at slot k, with its own buffer.
 *
 * The report is the receiver's, in pkt-gen's --json shape (role "rx",
 * loop "limit"), with the sender's rate as tx_pps.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <net/netmap.h>

#include "gen.h"

#define PROG		"ring-limit"
#define NUM_SLOTS	1024
#define BUF_SIZE	2048

/* The shared part: the slots, and what each side published at its sync. */
struct shared {
	_Alignas(64) uint32_t tx_head;	/* slots before it hold frames */
	_Alignas(64) uint32_t rx_head;	/* slots before it are free again */
	_Alignas(64) volatile int tx_done;
	_Alignas(64) struct netmap_slot slot[NUM_SLOTS];
};

/* One side's view of the ring, as the fields of a netmap_ring. */
struct view {
	uint32_t head, cur, tail;
};

struct side {
	struct shared *sh;
	int cpu;			/* -1: not pinned */
	uint64_t packets, bytes, rounds;
	double tic, toc;
};

static struct {
	uint64_t count;			/* -n, 0: until --timeout */
	unsigned int len;		/* -l */
	unsigned int burst;		/* -b */
	int cpu;			/* -a */
	double seconds;			/* --timeout */
	int json;
} opt = { .len = GEN_MIN_LEN, .burst = 512, .cpu = -1, .seconds = 3 };

static uint8_t *bufs;

static uint32_t next(uint32_t i)
{
	return i + 1 == NUM_SLOTS ? 0 : i + 1;
}

static uint32_t space(const struct view *v)
{
	return v->tail >= v->cur ? v->tail - v->cur : v->tail + NUM_SLOTS - v->cur;
}

static void pin(int cpu)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;
	int err;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu % (ncpu > 0 ? ncpu : 1), &set);
	err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (err)
		fprintf(stderr, "%s: warning: cannot pin to CPU %d: %s\n", PROG,
			cpu, strerror(err));
}

/* The sender's sync: publish head, see what the receiver released. */
static void tx_sync(struct shared *sh, struct view *v)
{
	uint32_t released;

	__atomic_store_n(&sh->tx_head, v->head, __ATOMIC_RELEASE);
	released = __atomic_load_n(&sh->rx_head, __ATOMIC_ACQUIRE);
	/* One slot stays empty, as in netmap: tail is one behind. */
	v->tail = released ? released - 1 : NUM_SLOTS - 1;
}

/* The receiver's sync: release up to head, see what the sender sent. */
static void rx_sync(struct shared *sh, struct view *v)
{
	__atomic_store_n(&sh->rx_head, v->head, __ATOMIC_RELEASE);
	v->tail = __atomic_load_n(&sh->tx_head, __ATOMIC_ACQUIRE);
}

static void *tx_main(void *arg)
{
	struct side *s = (struct side *)arg;
	struct shared *sh = s->sh;
	struct view v = { 0, 0, NUM_SLOTS - 1 };
	double stop_at;
	uint64_t sent = 0;

	pin(s->cpu);
	s->tic = gen_now();
	stop_at = s->tic + opt.seconds;
	while (!gen_stop && (!opt.count || sent < opt.count)) {
		uint32_t n = space(&v), i = v.cur;

		if (n > opt.burst)
			n = opt.burst;
		if (opt.count && n > opt.count - sent)
			n = (uint32_t)(opt.count - sent);
		sent += n;
		while (n--) {
			sh->slot[i].len = (uint16_t)opt.len;
			sh->slot[i].flags = 0;
			i = next(i);
		}
		v.head = v.cur = i;
		tx_sync(sh, &v);
		s->rounds++;
		if (!opt.count && (s->rounds & 63) == 0 && gen_now() >= stop_at)
			break;
	}
	s->toc = gen_now();
	s->packets = sent;
	s->bytes = sent * opt.len;
	__atomic_store_n(&sh->tx_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *rx_main(void *arg)
{
	struct side *s = (struct side *)arg;
	struct shared *sh = s->sh;
	struct view v = { 0, 0, 0 };

	pin(s->cpu);
	for (;;) {
		int done = __atomic_load_n(&sh->tx_done, __ATOMIC_ACQUIRE);
		uint32_t i = v.cur, got = 0;

		rx_sync(sh, &v);
		while (i != v.tail) {
			s->bytes += sh->slot[i].len;
			got += !(sh->slot[i].flags & NS_MOREFRAG);
			i = next(i);
		}
		v.head = v.cur = i;
		if (got) {
			if (!s->packets)
				s->tic = gen_now();
			s->packets += got;
			s->toc = gen_now();
			s->rounds++;
		} else if (done || gen_stop) {
			break;
		}
	}
	rx_sync(sh, &v);
	return NULL;
}

static void usage(void)
{
	printf("Usage: %s [options]\n"
	       "\n"
	       "Two threads exchange frames through a shared ring of %u slots of %u-byte\n"
	       "buffers laid out like a netmap ring, with no system call: the user-space\n"
	       "limit of a netmap pipe on this machine.\n"
	       "\n"
	       "  -n COUNT           frames to send; 0 = for --timeout seconds (default)\n"
	       "  -l LEN             frame length, %u..%u (default %u)\n"
	       "  -b BURST           frames per sender round (default 512)\n"
	       "  -a CPU             pin the sender to CPU and the receiver to CPU + 1\n"
	       "  --timeout SECONDS  how long to send without -n (default 3)\n"
	       "  --json             print one JSON object on stdout\n"
	       "  -h, --help         this help\n",
	       PROG, NUM_SLOTS, BUF_SIZE, GEN_MIN_LEN, BUF_SIZE, GEN_MIN_LEN);
}

static unsigned long long number(const char *name, const char *arg,
				 unsigned long long min, unsigned long long max)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (*arg < '0' || *arg > '9' || errno || *end || v < min || v > max)
		gen_die(2, PROG, "-h", "%s: expected an integer in %llu..%llu, got '%s'",
			name, min, max, arg);
	return v;
}

static void parse(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":hn:l:b:a:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage();
			exit(0);
		case 'n':
			opt.count = number("-n", optarg, 0, UINT64_MAX);
			break;
		case 'l':
			opt.len = (unsigned int)number("-l", optarg, GEN_MIN_LEN, BUF_SIZE);
			break;
		case 'b':
			opt.burst = (unsigned int)number("-b", optarg, 1, NUM_SLOTS);
			break;
		case 'a':
			opt.cpu = (int)number("-a", optarg, 0, 4095);
			break;
		case 'T':
			errno = 0;
			opt.seconds = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(opt.seconds > 0) ||
			    opt.seconds > 1e6)
				gen_die(2, PROG, "-h", "--timeout: expected a positive number of seconds, got '%s'",
					optarg);
			break;
		case 'J':
			opt.json = 1;
			break;
		case ':':
			gen_die(2, PROG, "-h", "option %s needs a value", argv[optind - 1]);
		default:
			gen_die(2, PROG, "-h", "unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		gen_die(2, PROG, "-h", "unexpected argument '%s'", argv[optind]);
}

static double rate(const struct side *s)
{
	double secs = s->toc - s->tic;

	return s->packets && secs > 0 ? (double)s->packets / secs : 0;
}

int main(int argc, char **argv)
{
	struct side tx = { 0 }, rx = { 0 };
	pthread_t ttx, trx;
	struct shared *sh;
	double secs, pps;
	uint32_t i;
	int err;

	parse(argc, argv);
	sh = (struct shared *)aligned_alloc(64, sizeof(*sh));
	bufs = (uint8_t *)aligned_alloc(64, (size_t)NUM_SLOTS * BUF_SIZE);
	if (!sh || !bufs)
		gen_die(1, PROG, NULL, "out of memory");
	memset(sh, 0, sizeof(*sh));
	/* Every buffer gets its frame once, before the start. */
	for (i = 0; i < NUM_SLOTS; i++) {
		uint8_t *b = bufs + (size_t)i * BUF_SIZE;

		memset(b, 0xff, 12);
		memset(b + 12, 0, opt.len - 12);
		b[12] = 0x08;
		sh->slot[i].buf_idx = i;
	}
	tx.sh = rx.sh = sh;
	tx.cpu = opt.cpu;
	rx.cpu = opt.cpu < 0 ? -1 : opt.cpu + 1;
	gen_install_signals();
	err = pthread_create(&trx, NULL, rx_main, &rx);
	if (!err)
		err = pthread_create(&ttx, NULL, tx_main, &tx);
	if (err)
		gen_die(1, PROG, NULL, "cannot start a thread: %s", strerror(err));
	pthread_join(ttx, NULL);
	pthread_join(trx, NULL);
	secs = rx.packets ? rx.toc - rx.tic : 0;
	pps = rate(&rx);
	fprintf(opt.json ? stderr : stdout,
		"Sent %llu, received %llu packets in %.2f seconds: %.3f Mpps (sender %.3f Mpps), %.1f per round\n",
		(unsigned long long)tx.packets, (unsigned long long)rx.packets,
		secs, pps / 1e6, rate(&tx) / 1e6,
		rx.rounds ? (double)rx.packets / (double)rx.rounds : 0.0);
	if (opt.json)
		printf("{\"role\": \"rx\", \"packets\": %llu, \"bytes\": %llu, "
		       "\"seconds\": %.6f, \"pps\": %.3f, \"bps\": %.3f, "
		       "\"errors\": %llu, \"lost\": 0, \"loop\": \"limit\", "
		       "\"tx_pps\": %.3f}\n",
		       (unsigned long long)rx.packets,
		       (unsigned long long)rx.bytes, secs, pps,
		       secs > 0 ? 8.0 * (double)rx.bytes / secs : 0.0,
		       (unsigned long long)(tx.packets - rx.packets), rate(&tx));
	free(bufs);
	free(sh);
	return rx.packets == tx.packets ? 0 : 1;
}
