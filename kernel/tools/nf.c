// SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause
/*
 * The shared core of the ptnet network functions: see nf.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NETMAP_WITH_LIBS
#include <net/netmap_user.h>

#include "nf.h"
#include "ring_util.h"

#define NF_SPEC_MAX	256
#define NF_MAX_OPTS	64

double nf_now;
const char *nf_prog = "nf";

struct nf_port {
	const char *spec;
	struct nm_port nm;
	unsigned int next_tx;
	short events;
	uint64_t rx, tx, drop, modified, rx_bytes, tx_bytes;
};

/* One way: src's rx rings into dst's tx rings. */
struct nf_link {
	struct nf_port *src, *dst;
	enum nf_side from;
	int zcopy;
	enum { NF_LINK_START, NF_LINK_FRAME, NF_LINK_DROP } state;
	const struct nf_role *role;	/* asked about each frame */
	void *ctx;
};

static volatile sig_atomic_t nf_stop;
static struct nf_port ports[2];
static struct nf_link links[2];

static void on_signal(int sig)
{
	(void)sig;
	nf_stop = 1;
}

double nf_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------------- */
/* Headers and checksums                                                   */
/* ---------------------------------------------------------------------- */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

void nf_put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

void nf_put32(uint8_t *p, uint32_t v)
{
	nf_put16(p, v >> 16);
	nf_put16(p + 2, v & 0xffff);
}

int nf_parse(uint8_t *frame, unsigned int len, struct nf_pkt *p)
{
	unsigned int ihl, tot, l4min;
	uint8_t *ip = frame + 14;

	memset(p, 0, sizeof(*p));
	if (len < 14 + 20 || get16(frame + 12) != 0x0800)
		return -1;
	ihl = (ip[0] & 0x0f) * 4u;
	tot = get16(ip + 2);
	if ((ip[0] >> 4) != 4 || ihl < 20 || tot < ihl || 14 + tot > len)
		return -1;
	p->ip = ip;
	p->proto = ip[9];
	p->saddr = get32(ip + 12);
	p->daddr = get32(ip + 16);
	if (get16(ip + 6) & 0x1fff)		/* not the first fragment */
		return 0;
	switch (p->proto) {
	case NF_PROTO_TCP:
		l4min = 20;
		break;
	case NF_PROTO_UDP:
		l4min = 8;
		break;
	case NF_PROTO_ICMP:
		l4min = 8;
		break;
	default:
		return 0;
	}
	if (tot - ihl < l4min)
		return 0;
	p->l4 = ip + ihl;
	p->l4_len = tot - ihl;
	if (p->proto == NF_PROTO_TCP) {
		unsigned int doff = (p->l4[12] >> 4) * 4u;

		if (doff < 20 || doff > p->l4_len) {
			p->l4 = NULL;
			return 0;
		}
		l4min = doff;
	}
	p->payload = p->l4 + l4min;
	p->payload_len = p->l4_len - l4min;
	if (p->proto == NF_PROTO_ICMP) {
		/* echo request (8) and reply (0): the identifier is the port */
		if (p->l4[0] == 8 || p->l4[0] == 0) {
			p->sport = p->dport = get16(p->l4 + 4);
			p->has_ports = 1;
		}
	} else {
		p->sport = get16(p->l4);
		p->dport = get16(p->l4 + 2);
		p->has_ports = 1;
	}
	return 0;
}

/* RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m'), in one's complement. */
void nf_csum_update16(uint8_t *csum, uint16_t old, uint16_t new)
{
	uint32_t sum = (uint16_t)~get16(csum);

	sum += (uint16_t)~old;
	sum += new;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (uint16_t)~sum;
	csum[0] = sum >> 8;
	csum[1] = sum & 0xff;
}

void nf_csum_update32(uint8_t *csum, uint32_t old, uint32_t new)
{
	nf_csum_update16(csum, old >> 16, new >> 16);
	nf_csum_update16(csum, old & 0xffff, new & 0xffff);
}

uint16_t nf_csum(const uint8_t *data, unsigned int len, uint32_t sum)
{
	uint64_t s = sum;
	unsigned int i;

	for (i = 0; i + 1 < len; i += 2)
		s += get16(data + i);
	if (len & 1)
		s += (uint32_t)data[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* ---------------------------------------------------------------------- */
/* Small parsers and text                                                  */
/* ---------------------------------------------------------------------- */

void nf_config_error(const char *file, unsigned int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: error: %s:%u: ", nf_prog, file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

char *nf_config_line(FILE *fp, const char *file, char *buf, size_t size,
		     unsigned int *line)
{
	if (!fgets(buf, (int)size, fp))
		return NULL;
	++*line;
	if (!strchr(buf, '\n') && !feof(fp))
		nf_config_error(file, *line, "line too long (at most %zu bytes)",
				size - 2);
	return buf;
}

int nf_parse_u32(const char *s, uint32_t max, uint32_t *v)
{
	unsigned long long n = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		n = n * 10 + (unsigned int)(*s - '0');
		if (n > max)
			return -1;
	}
	*v = (uint32_t)n;
	return 0;
}

int nf_parse_ipv4(const char *s, uint32_t *addr)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*addr = ntohl(a.s_addr);
	return 0;
}

int nf_parse_prefix(const char *s, uint32_t *addr, uint32_t *mask)
{
	char buf[32];
	const char *slash = strchr(s, '/');
	uint32_t bits = 32;
	size_t n = slash ? (size_t)(slash - s) : strlen(s);

	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (nf_parse_ipv4(buf, addr))
		return -1;
	if (slash && nf_parse_u32(slash + 1, 32, &bits))
		return -1;
	*mask = bits ? 0xffffffffu << (32 - bits) : 0;
	*addr &= *mask;
	return 0;
}

int nf_parse_port_range(const char *s, uint16_t *lo, uint16_t *hi)
{
	char buf[16];
	const char *dash = strchr(s, '-');
	uint32_t a, b;

	if (!dash)
		dash = strchr(s, ':');
	if (!dash) {
		if (nf_parse_u32(s, 65535, &a))
			return -1;
		*lo = *hi = (uint16_t)a;
		return 0;
	}
	if ((size_t)(dash - s) >= sizeof(buf))
		return -1;
	memcpy(buf, s, dash - s);
	buf[dash - s] = '\0';
	if (nf_parse_u32(buf, 65535, &a) || nf_parse_u32(dash + 1, 65535, &b) ||
	    a > b)
		return -1;
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
}

unsigned int nf_split(char *line, char **words, unsigned int max)
{
	unsigned int n = 0;
	char *p = line, *hash = strchr(line, '#');

	if (hash)
		*hash = '\0';
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			*p++ = '\0';
		if (!*p)
			break;
		if (n == max)
			return max + 1;
		words[n++] = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			p++;
	}
	return n;
}

const char *nf_ip_str(uint32_t addr, char buf[16])
{
	snprintf(buf, 16, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff,
		 (addr >> 8) & 0xff, addr & 0xff);
	return buf;
}

const char *nf_proto_name(uint8_t proto)
{
	switch (proto) {
	case NF_PROTO_TCP:
		return "TCP";
	case NF_PROTO_UDP:
		return "UDP";
	case NF_PROTO_ICMP:
		return "ICMP";
	default:
		return "IP";
	}
}

void nf_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* ---------------------------------------------------------------------- */
/* Stats                                                                   */
/* ---------------------------------------------------------------------- */

static void port_json(FILE *f, const char *key, const struct nf_port *p)
{
	fprintf(f, "\"%s\":{\"port\":", key);
	nf_json_string(f, p->spec);
	fprintf(f, ",\"rx\":%llu,\"tx\":%llu,\"drop\":%llu,\"modified\":%llu,"
		"\"rx_bytes\":%llu,\"tx_bytes\":%llu}",
		(unsigned long long)p->rx, (unsigned long long)p->tx,
		(unsigned long long)p->drop, (unsigned long long)p->modified,
		(unsigned long long)p->rx_bytes,
		(unsigned long long)p->tx_bytes);
}

/* Write the stats object to path through path.tmp and a rename. */
static void stats_write(const char *path, const struct nf_role *role,
			void *ctx, double started)
{
	char tmp[4096];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		nf_fatal("--stats: path too long");
	f = fopen(tmp, "w");
	if (!f)
		nf_fatal("%s: %s", tmp, strerror(errno));
	fprintf(f, "{\"role\":\"%s\",\"pid\":%d,\"uptime_s\":%.3f,"
		"\"zero_copy\":%s,\"ports\":{", role->name, (int)getpid(),
		nf_clock() - started, links[0].zcopy ? "true" : "false");
	port_json(f, "in", &ports[NF_IN]);
	fputc(',', f);
	port_json(f, "out", &ports[NF_OUT]);
	fprintf(f, "},\"%s\":{", role->name);
	if (role->stats)
		role->stats(ctx, f);
	fprintf(f, "}}\n");
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		nf_fatal("%s: %s", path, strerror(errno));
}

/* Create the directory holding path, if missing (one level). */
static void stats_dir(const char *path)
{
	char dir[4096];
	char *slash;

	if (strlen(path) >= sizeof(dir))
		nf_usage_error("--stats: path too long");
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return;
	*slash = '\0';
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		nf_fatal("%s: %s", dir, strerror(errno));
}

/* ---------------------------------------------------------------------- */
/* Forwarding                                                              */
/* ---------------------------------------------------------------------- */

/*
 * Move up to burst slots of rx into link's dst, asking the role about each
 * frame (before its first slot is taken, and only once there is room for
 * it). Returns the slots consumed, or -1 when dst filled up first.
 */
static int move_ring(void *link, struct netmap_ring *rx, unsigned int burst)
{
	struct nf_link *l = link;
	struct nf_port *src = l->src, *dst = l->dst;
	struct netmap_ring *tx = NULL;
	uint32_t r = rx->cur, t = 0;
	int moved = 0, full = 0;

	for (; r != rx->tail && burst; r = nm_ring_next(rx, r), burst--, moved++) {
		struct netmap_slot *rs = &rx->slot[r], *ts;
		uint16_t more = rs->flags & NS_MOREFRAG;
		uint16_t len = rs->len;

		if (len > rx->nr_buf_size)
			len = (uint16_t)rx->nr_buf_size;
		if (l->state == NF_LINK_DROP) {		/* the rest of a dropped frame */
			if (!more)
				l->state = NF_LINK_START;
			continue;
		}
		if (!tx || t == tx->tail) {
			if (tx)
				tx->head = tx->cur = t;
			tx = ring_tx_with_room(&dst->nm, &dst->next_tx);
			if (!tx) {
				full = 1;
				break;
			}
			t = tx->cur;
		}
		if (l->state == NF_LINK_START) {
			enum nf_verdict v;

			v = l->role->frame(l->ctx, l->from,
					   (uint8_t *)NETMAP_BUF(rx, rs->buf_idx),
					   len);
			src->rx++;
			src->rx_bytes += len;
			if (v == NF_DROP) {
				src->drop++;
				if (more)
					l->state = NF_LINK_DROP;
				continue;
			}
			if (v == NF_MODIFIED)
				src->modified++;
		}
		ts = &tx->slot[t];
		len = ring_slot_move(rx, rs, tx, ts, len, l->zcopy);
		ts->len = len;
		dst->tx_bytes += len;
		if (!more)
			dst->tx++;
		l->state = more ? NF_LINK_FRAME : NF_LINK_START;
		t = nm_ring_next(tx, t);
	}
	rx->head = rx->cur = r;
	if (tx)
		tx->head = tx->cur = t;
	return full ? -1 : moved;
}

/* ---------------------------------------------------------------------- */
/* Command line and main loop                                              */
/* ---------------------------------------------------------------------- */

enum { OPT_STATS = 1000, OPT_INTERVAL, OPT_HELP };

static void usage(const struct nf_role *role)
{
	printf("%s\n"
	       "Usage: %s -i IN -o OUT [options]\n"
	       "  -i, --in PORT          the port towards the ingress (netmap:eth1,\n"
	       "                         a pipe end such as netmap:p}1, ...)\n"
	       "  -o, --out PORT         the port towards the egress\n"
	       "  --stats FILE           write the counters as JSON to FILE every\n"
	       "                         --stats-interval and at the end\n"
	       "  --stats-interval SEC   seconds between stats writes (default 1)\n"
	       "  -b, --burst N          most slots moved per ring and pass (1024)\n",
	       role->summary, nf_prog);
	if (role->default_config)
		printf("  -c, --config FILE      the role's configuration (default %s);\n"
		       "  --rules FILE           the same\n",
		       role->default_config);
	if (role->options_help)
		fputs(role->options_help, stdout);
	printf("  -h, --help             this help\n"
	       "Exit status: 0 after SIGINT or SIGTERM (the stats written),\n"
	       "2 for a bad command line or configuration, 1 for a port failure.\n");
}

static void port_open(struct nf_port *p)
{
	if (nm_port_open(&p->nm, p->spec, 0))
		nf_fatal("%s", p->nm.errmsg);
	if (p->nm.rings.first_rx > p->nm.rings.last_rx ||
	    p->nm.rings.first_tx > p->nm.rings.last_tx)
		nf_fatal("%s: needs both rx and tx rings", p->spec);
}

int nf_main(int argc, char **argv, const struct nf_role *role, void *ctx)
{
	static const struct option core[] = {
		{ "in", required_argument, NULL, 'i' },
		{ "out", required_argument, NULL, 'o' },
		{ "config", required_argument, NULL, 'c' },
		{ "rules", required_argument, NULL, 'c' },
		{ "burst", required_argument, NULL, 'b' },
		{ "stats", required_argument, NULL, OPT_STATS },
		{ "stats-interval", required_argument, NULL, OPT_INTERVAL },
		{ "help", no_argument, NULL, 'h' },
	};
	struct option opts[NF_MAX_OPTS];
	const char *in = NULL, *out = NULL, *stats = NULL;
	const char *config = role->default_config;
	unsigned int n = 0, burst = 1024, i;
	double interval = 1.0, started, next_stats, next_tick;
	char shortopts[] = ":i:o:c:b:h";
	struct pollfd pfd[2];
	struct sigaction sa;
	int c;

	if (argv[0] && strrchr(argv[0], '/'))
		nf_prog = strrchr(argv[0], '/') + 1;
	else if (argv[0])
		nf_prog = argv[0];
	for (i = 0; i < sizeof(core) / sizeof(core[0]); i++)
		opts[n++] = core[i];
	for (i = 0; role->options && role->options[i].name; i++) {
		if (n == NF_MAX_OPTS - 1)
			nf_fatal("too many options");
		opts[n++] = role->options[i];
	}
	memset(&opts[n], 0, sizeof(opts[n]));
	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			in = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'c':
			if (!role->default_config)
				nf_usage_error("%s takes no -c", nf_prog);
			config = optarg;
			break;
		case 'b': {
			uint32_t v;

			if (nf_parse_u32(optarg, 65536, &v) || !v)
				nf_usage_error("--burst: a number from 1 to 65536");
			burst = v;
			break;
		}
		case OPT_STATS:
			stats = optarg;
			break;
		case OPT_INTERVAL: {
			char *end;

			errno = 0;
			interval = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(interval >= 0.01) ||
			    interval > 86400)
				nf_usage_error("--stats-interval: seconds from 0.01 to 86400");
			break;
		}
		case 'h':
			usage(role);
			exit(0);
		case ':':
			nf_usage_error("%s needs an argument", argv[optind - 1]);
		case '?':
			if (optopt)
				nf_usage_error("unknown option -%c", optopt);
			nf_usage_error("unknown option %s", argv[optind - 1]);
		default:
			if (!role->option)
				nf_usage_error("unknown option");
			role->option(ctx, c, optarg);
		}
	}
	if (optind < argc)
		nf_usage_error("unexpected argument '%s'", argv[optind]);
	if (!in || !out)
		nf_usage_error("give both -i IN and -o OUT");
	ports[NF_IN].spec = in;
	ports[NF_OUT].spec = out;
	for (i = 0; i < 2; i++) {
		struct nm_spec parsed;
		char err[NM_SPEC_ERRLEN];

		if (strlen(ports[i].spec) >= NF_SPEC_MAX)
			nf_usage_error("port spec too long: %.40s...", ports[i].spec);
		if (nm_spec_parse(ports[i].spec, &parsed, err, sizeof(err)))
			nf_usage_error("%s", err);
	}
	if (role->configure)
		role->configure(ctx, config);
	if (stats)
		stats_dir(stats);

	port_open(&ports[NF_IN]);
	port_open(&ports[NF_OUT]);
	links[0] = (struct nf_link){ &ports[NF_IN], &ports[NF_OUT], NF_IN, 0,
				     NF_LINK_START, role, ctx };
	links[1] = (struct nf_link){ &ports[NF_OUT], &ports[NF_IN], NF_OUT, 0,
				     NF_LINK_START, role, ctx };
	links[0].zcopy = links[1].zcopy =
		ports[NF_IN].nm.reg.nr_mem_id == ports[NF_OUT].nm.reg.nr_mem_id;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	fprintf(stderr, "%s: %s <-> %s (%s)\n", nf_prog, in, out,
		links[0].zcopy ? "zero copy" : "copy");
	started = nf_now = nf_clock();
	next_stats = started;
	next_tick = started + 1.0;
	while (!nf_stop) {
		int timeout, ret;

		nf_now = nf_clock();
		if (nf_now >= next_tick) {
			if (role->tick)
				role->tick(ctx, nf_now);
			next_tick = nf_now + 1.0;
		}
		if (stats && nf_now >= next_stats) {
			stats_write(stats, role, ctx, started);
			next_stats = nf_now + interval;
		}
		ports[0].events = ports[1].events = 0;
		for (i = 0; i < 2; i++) {
			if (ring_rx_forward(&links[i].src->nm, burst, move_ring,
					    &links[i]) < 0)
				links[i].dst->events |= POLLOUT;
			else
				links[i].src->events |= POLLIN;
		}
		if (role->flush)
			role->flush(ctx);
		for (i = 0; i < 2; i++) {
			pfd[i].fd = ports[i].nm.fd;
			pfd[i].events = ports[i].events;
			pfd[i].revents = 0;
		}
		timeout = (int)((next_tick - nf_now) * 1000) + 1;
		if (stats && (int)((next_stats - nf_now) * 1000) + 1 < timeout)
			timeout = (int)((next_stats - nf_now) * 1000) + 1;
		if (timeout < 0)
			timeout = 0;
		ret = poll(pfd, 2, timeout);
		if (ret < 0 && errno != EINTR)
			nf_fatal("poll: %s", strerror(errno));
		for (i = 0; i < 2; i++)
			if (pfd[i].revents & (POLLERR | POLLNVAL))
				nf_fatal("%s: the port failed (device gone?)",
					 ports[i].spec);
	}
	if (role->flush)
		role->flush(ctx);
	if (stats)
		stats_write(stats, role, ctx, started);
	nm_port_close(&ports[NF_IN].nm);
	nm_port_close(&ports[NF_OUT].nm);
	return 0;
}
