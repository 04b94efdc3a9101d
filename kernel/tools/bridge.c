// SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause
/*
 * bridge: forward packets between netmap ports.
 *
 *   bridge -i PORT_A [-i PORT_B]     PORT_A <-> PORT_B; PORT_B defaults to
 *                                    PORT_A's host rings (PORT_A^)
 *   bridge -L "A=B;C>D;..."          links: "=" both ways, ">" one way
 *
 * Every distinct port spec is opened once; a port may be in several links
 * and on both sides of one ("netmap:eth0>netmap:eth0" turns eth0's traffic
 * around). Packets move slot by slot, fragment chains as they are. Between
 * ports of one memory region the buffers are swapped (zero copy, both
 * slots marked NS_BUF_CHANGED); otherwise the bytes are copied.
 *
 * Exit status: 0 after SIGINT or SIGTERM, 2 for a bad command line (one
 * line on stderr), 1 when a port cannot be opened or fails.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NETMAP_WITH_LIBS
#include <net/netmap_user.h>

#include "gen.h"
#include "ring_util.h"

#define BR_MAX_LINKS	32	/* one-way links (a "=" link is two) */
#define BR_MAX_PORTS	(2 * BR_MAX_LINKS)
#define BR_SPEC_MAX	256

struct br_port {
	char spec[BR_SPEC_MAX];
	struct nm_port nm;
	unsigned int next_tx;		/* tx ring to try first */
	short events;
};

/* One way: src's rx rings into dst's tx rings. */
struct br_link {
	struct br_port *src, *dst;
	int zcopy;
	uint64_t pkts, bytes;
};

static const char *prog = "bridge";
static struct br_port ports[BR_MAX_PORTS];
static unsigned int nports;
static struct br_link links[BR_MAX_LINKS];
static unsigned int nlinks;
static volatile sig_atomic_t stop;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s -i PORT_A [-i PORT_B] [-b BURST] [-v]\n"
		"       %s -L LINKS [-b BURST] [-v]\n"
		"  -i PORT   a netmap port spec; with one -i the other end is its\n"
		"            host rings (PORT^)\n"
		"  -L LINKS  links separated by ';': A=B (both ways), A>B (A to B),\n"
		"            at most %d one-way links\n"
		"  -b BURST  most slots moved per ring and pass (default 1024)\n"
		"  -v        print counters to stderr every second and at the end\n",
		prog, prog, BR_MAX_LINKS);
}

#define bad_input(...)	gen_die(2, prog, "-h", __VA_ARGS__)
#define fatal(...)	gen_die(1, prog, NULL, __VA_ARGS__)

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* ---------------------------------------------------------------------- */
/* Command line                                                            */
/* ---------------------------------------------------------------------- */

/* The port for spec, added (and checked) if new. */
static struct br_port *port_get(const char *spec, size_t len)
{
	struct nm_spec parsed;
	char err[NM_SPEC_ERRLEN];
	struct br_port *p;
	unsigned int i;

	if (!len)
		bad_input("empty port in a link");
	if (len >= BR_SPEC_MAX)
		bad_input("port spec too long: %.40s...", spec);
	for (i = 0; i < nports; i++)
		if (strlen(ports[i].spec) == len &&
		    !memcmp(ports[i].spec, spec, len))
			return &ports[i];
	p = &ports[nports++];
	memcpy(p->spec, spec, len);
	p->spec[len] = '\0';
	if (nm_spec_parse(p->spec, &parsed, err, sizeof(err)))
		bad_input("%s", err);
	return p;
}

static void link_add(struct br_port *src, struct br_port *dst)
{
	if (nlinks == BR_MAX_LINKS)
		bad_input("more than %d one-way links", BR_MAX_LINKS);
	links[nlinks].src = src;
	links[nlinks].dst = dst;
	nlinks++;
}

/*
 * Where "A=B" or "A>B" splits. A spec may hold '=' itself (in @conf:...),
 * so the separator is the first '=' or '>' followed by something that
 * starts like a port ("netmap:" or "vale"); failing that, the only '=' or
 * '>' of the link.
 */
static const char *link_split(const char *s, const char *end)
{
	const char *p, *only = NULL;
	int seps = 0;

	for (p = s; p < end; p++) {
		if (*p != '=' && *p != '>')
			continue;
		if ((end - p - 1 >= 7 && !strncmp(p + 1, "netmap:", 7)) ||
		    (end - p - 1 >= 4 && !strncmp(p + 1, "vale", 4)))
			return p;
		seps++;
		only = p;
	}
	return seps == 1 ? only : NULL;
}

static void links_parse(const char *arg)
{
	const char *s = arg;

	while (*s) {
		const char *end = strchr(s, ';'), *sep;

		if (!end)
			end = s + strlen(s);
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		if (s < end) {
			struct br_port *a, *b;

			sep = link_split(s, end);
			if (!sep)
				bad_input("link '%.*s': no '=' or '>' between two ports",
					  (int)(end - s), s);
			a = port_get(s, sep - s);
			b = port_get(sep + 1, end - sep - 1);
			link_add(a, b);
			if (*sep == '=')
				link_add(b, a);
		}
		s = *end ? end + 1 : end;
	}
	if (!nlinks)
		bad_input("-L: no link");
}

/* ---------------------------------------------------------------------- */
/* Forwarding                                                              */
/* ---------------------------------------------------------------------- */

static void port_open(struct br_port *p)
{
	if (nm_port_open(&p->nm, p->spec, 0))
		fatal("%s", p->nm.errmsg);
	if (p->nm.rings.first_rx > p->nm.rings.last_rx &&
	    p->nm.rings.first_tx > p->nm.rings.last_tx)
		fatal("%s: no ring bound", p->spec);
}

/* Move up to burst slots from rx ring rx into the tx rings of link's dst. */
static int move_ring(void *link, struct netmap_ring *rx, unsigned int burst)
{
	struct br_link *l = link;
	int moved = 0;

	while (!nm_ring_empty(rx) && burst) {
		struct netmap_ring *tx = ring_tx_with_room(&l->dst->nm,
							    &l->dst->next_tx);
		uint32_t r, t, n;

		if (!tx)
			return moved ? moved : -1;	/* dst full */
		r = rx->cur;
		t = tx->cur;
		n = nm_ring_space(rx);
		if (n > nm_ring_space(tx))
			n = nm_ring_space(tx);
		if (n > burst)
			n = burst;
		burst -= n;
		while (n--) {
			struct netmap_slot *rs = &rx->slot[r];
			struct netmap_slot *ts = &tx->slot[t];
			uint16_t more = rs->flags & NS_MOREFRAG;

			/* the length as received, even where a copy was cut */
			ring_slot_move(rx, rs, tx, ts, rs->len, l->zcopy);
			ts->len = rs->len;
			l->bytes += rs->len;
			if (!more)
				l->pkts++;
			moved++;
			r = nm_ring_next(rx, r);
			t = nm_ring_next(tx, t);
		}
		rx->head = rx->cur = r;
		tx->head = tx->cur = t;
	}
	return moved;
}

static void report(void)
{
	unsigned int i;

	for (i = 0; i < nlinks; i++)
		fprintf(stderr, "%s: %s > %s: %llu packets, %llu bytes%s\n",
			prog, links[i].src->spec, links[i].dst->spec,
			(unsigned long long)links[i].pkts,
			(unsigned long long)links[i].bytes,
			links[i].zcopy ? " (zero copy)" : " (copy)");
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct pollfd pfd[BR_MAX_PORTS];
	const char *ifs[2] = { NULL, NULL };
	const char *links_arg = NULL;
	unsigned int nifs = 0, burst = 1024, i;
	int verbose = 0, c;
	char host[BR_SPEC_MAX + 1];
	struct sigaction sa;
	double last_report;

	if (argv[0] && strrchr(argv[0], '/'))
		prog = strrchr(argv[0], '/') + 1;
	else if (argv[0])
		prog = argv[0];
	opterr = 0;
	while ((c = getopt(argc, argv, "hi:L:b:v")) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'i':
			if (nifs == 2)
				bad_input("more than two -i");
			ifs[nifs++] = optarg;
			break;
		case 'L':
			if (links_arg)
				bad_input("more than one -L");
			links_arg = optarg;
			break;
		case 'b': {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 0);
			if (errno || *end || !*optarg || v < 1 || v > 65536)
				bad_input("-b: a number from 1 to 65536");
			burst = v;
			break;
		}
		case 'v':
			verbose = 1;
			break;
		default:
			if (optopt == 'i' || optopt == 'L' || optopt == 'b')
				bad_input("-%c needs an argument", optopt);
			bad_input("unknown option -%c", optopt);
		}
	}
	if (optind < argc)
		bad_input("unexpected argument '%s'", argv[optind]);
	if (links_arg && nifs)
		bad_input("-i and -L do not mix");
	if (links_arg) {
		links_parse(links_arg);
	} else if (nifs) {
		struct br_port *a = port_get(ifs[0], strlen(ifs[0])), *b;

		if (nifs == 1) {
			snprintf(host, sizeof(host), "%s^", ifs[0]);
			ifs[1] = host;
		}
		b = port_get(ifs[1], strlen(ifs[1]));
		link_add(a, b);
		link_add(b, a);
	} else {
		bad_input("no port: give -i or -L");
	}

	for (i = 0; i < nports; i++)
		port_open(&ports[i]);
	for (i = 0; i < nlinks; i++)
		links[i].zcopy = links[i].src->nm.reg.nr_mem_id ==
				 links[i].dst->nm.reg.nr_mem_id;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (verbose)
		for (i = 0; i < nlinks; i++)
			fprintf(stderr, "%s: %s > %s%s\n", prog,
				links[i].src->spec, links[i].dst->spec,
				links[i].zcopy ? " (zero copy)" : " (copy)");
	last_report = now();
	while (!stop) {
		int ret;

		for (i = 0; i < nports; i++)
			ports[i].events = 0;
		for (i = 0; i < nlinks; i++) {
			if (ring_rx_forward(&links[i].src->nm, burst, move_ring,
					    &links[i]) < 0)
				links[i].dst->events |= POLLOUT;
			else
				links[i].src->events |= POLLIN;
		}
		for (i = 0; i < nports; i++) {
			pfd[i].fd = ports[i].nm.fd;
			pfd[i].events = ports[i].events;
			pfd[i].revents = 0;
		}
		ret = poll(pfd, nports, 500);
		if (ret < 0 && errno != EINTR)
			fatal("poll: %s", strerror(errno));
		for (i = 0; i < nports; i++)
			if (pfd[i].revents & (POLLERR | POLLNVAL))
				fatal("%s: the port failed (device gone?)",
				      ports[i].spec);
		if (verbose && now() - last_report >= 1.0) {
			report();
			last_report = now();
		}
	}
	if (verbose)
		report();
	for (i = 0; i < nports; i++)
		nm_port_close(&ports[i].nm);
	return 0;
}
