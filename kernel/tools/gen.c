// SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause
/*
 * ptnet traffic generators: the shared part (see gen.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NETMAP_WITH_LIBS
#include <net/netmap_user.h>

#include "gen.h"

volatile sig_atomic_t gen_stop;

static uint8_t tmpl[GEN_MAX_LEN];

/* ---------------------------------------------------------------------- */
/* Errors and the command line                                             */
/* ---------------------------------------------------------------------- */

static void usage(const struct gen_tool *tool)
{
	printf("Usage: %s -i PORT -f tx|rx|ping|pong [options]\n"
	       "\n"
	       "  -i PORT          %s\n"
	       "  -f FUNCTION      tx, rx (default), ping or pong\n"
	       "  -l LEN           frame length in bytes without the FCS, %u..%u (default %u)\n"
	       "  -n COUNT         packets to send or receive, ping-pong rounds; 0 = no limit\n"
	       "  -b BURST         packets per ring and per round (default 512)\n"
	       "  -w SECONDS       wait before starting (default 0)\n"
	       "  -R RATE          packets per second, suffix k, M or G allowed; default: no limit\n"
	       "  -N               do not normalize units (pps and bps, not Kpps, Mbps...)\n"
	       "  -p THREADS       threads (default 1, at most %u)\n"
	       "  -a CPU           pin thread i to CPU (CPU + i) mod the CPU count\n"
	       "  -s IP[:PORT]     source address (default 10.0.0.1:1234)\n"
	       "  -d IP[:PORT]     destination address (default 10.1.0.1:4321)\n"
	       "  -S MAC           source MAC\n"
	       "  -D MAC           destination MAC (default ff:ff:ff:ff:ff:ff)\n"
	       "  -v               more messages on stderr\n"
	       "  --verify         rx, pong: check every frame's pattern and, in numbered\n"
	       "                   frames, its sequence; exit code 1 when a check failed (or\n"
	       "                   a ping got no answer); tx: number every frame\n"
	       "%s"
	       "  --json           print one JSON object on stdout (the text goes to stderr)\n"
	       "  --idle SECONDS   rx, pong: stop after this long without packets once they\n"
	       "                   started; ping: the reply timeout (default 2)\n"
	       "  --timeout SECONDS  stop after this long in any case (default: never)\n"
	       "  -h, --help       this help\n"
	       "%s"
	       "\n"
	       "The report ends with: Speed: X pps Bandwidth: Y bps (raw Z bps). Average batch: B pkts\n",
	       tool->name, tool->port_help, GEN_MIN_LEN,
	       GEN_MAX_LEN, GEN_MIN_LEN, tool->max_threads,
	       tool->loops ?
	       "  --busy-wait      loop on NIOCTXSYNC/NIOCRXSYNC without poll() (default:\n"
	       "                   one poll() per batch, then every slot of every ring)\n" : "",
	       tool->extra_help ? tool->extra_help : "");
}

/* A decimal in min..max, the whole string. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *v)
{
	char *end;
	unsigned long long x;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || *end || x < min || x > max)
		return -1;
	*v = x;
	return 0;
}

static unsigned int opt_uint(const struct gen_opts *o, char opt,
			     const char *arg, uint64_t min, uint64_t max)
{
	uint64_t v;

	if (parse_u64(arg, min, max, &v))
		gen_usage_error(o, "-%c: expected an integer in %llu..%llu, got '%s'",
				opt, (unsigned long long)min,
				(unsigned long long)max, arg);
	return (unsigned int)v;
}

static double opt_seconds(const struct gen_opts *o, const char *name,
			  const char *arg, int zero_ok)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v >= 0) || v > 1e6 ||
	    (!zero_ok && v == 0))
		gen_usage_error(o, "%s: expected %s number of seconds, got '%s'",
				name, zero_ok ? "a" : "a positive", arg);
	return v;
}

static double opt_rate(const struct gen_opts *o, const char *arg)
{
	char *end;
	double v, scale = 1;

	errno = 0;
	v = strtod(arg, &end);
	if (!errno && end != arg && *end && strchr("kKmMgG", *end)) {
		scale = *end == 'k' || *end == 'K' ? 1e3 :
			*end == 'm' || *end == 'M' ? 1e6 : 1e9;
		end++;
	}
	v *= scale;
	if (errno || end == arg || *end || !(v > 0) || v > 1e12)
		gen_usage_error(o, "-R: expected a positive rate in packets per second, got '%s'",
				arg);
	return v;
}

static void opt_mac(const struct gen_opts *o, char opt, const char *arg,
		    uint8_t mac[6])
{
	unsigned int b[6];
	char tail;
	int i;

	if (sscanf(arg, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2],
		   &b[3], &b[4], &b[5], &tail) != 6)
		gen_usage_error(o, "-%c: expected a MAC address like 02:00:00:00:00:01, got '%s'",
				opt, arg);
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
}

static void opt_addr(const struct gen_opts *o, char opt, const char *arg,
		     struct in_addr *ip, uint16_t *port)
{
	char buf[64];
	char *colon;
	uint64_t v;

	if (strlen(arg) >= sizeof(buf) || strchr(arg, '-'))
		gen_usage_error(o, "-%c: expected IPv4[:PORT] (no ranges), got '%s'",
				opt, arg);
	strcpy(buf, arg);
	colon = strchr(buf, ':');
	if (colon) {
		*colon = '\0';
		if (parse_u64(colon + 1, 0, 65535, &v))
			gen_usage_error(o, "-%c: bad UDP port in '%s'", opt, arg);
		*port = (uint16_t)v;
	}
	if (inet_pton(AF_INET, buf, ip) != 1)
		gen_usage_error(o, "-%c: expected IPv4[:PORT], got '%s'", opt, arg);
}

enum { OPT_VERIFY = 256, OPT_JSON, OPT_IDLE, OPT_TIMEOUT, OPT_BUSY };

void gen_parse_args(int argc, char **argv, const struct gen_tool *tool,
		    struct gen_opts *o)
{
	static const struct option longopts[] = {
		{ "verify", no_argument, NULL, OPT_VERIFY },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "idle", required_argument, NULL, OPT_IDLE },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "busy-wait", no_argument, NULL, OPT_BUSY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int burst_set = 0;
	int ch;

	memset(o, 0, sizeof(*o));
	o->prog = tool->name;
	o->loops = tool->loops;
	o->role = GEN_RX;
	o->len = GEN_MIN_LEN;
	o->burst = 512;
	o->normalize = 1;
	o->threads = 1;
	o->cpu = -1;
	o->idle = 2.0;
	o->src_ip.s_addr = htonl(0x0a000001);	/* 10.0.0.1 */
	o->dst_ip.s_addr = htonl(0x0a010001);	/* 10.1.0.1 */
	o->src_port = 1234;
	o->dst_port = 4321;
	memset(o->dst_mac, 0xff, sizeof(o->dst_mac));
	o->src_mac[0] = 0x02;			/* locally administered */
	o->src_mac[5] = 0x01;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":hi:f:l:n:b:w:R:Np:a:s:d:S:D:v",
				 longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(tool);
			exit(0);
		case 'i':
			o->port = optarg;
			break;
		case 'f':
			if (!strcmp(optarg, "tx"))
				o->role = GEN_TX;
			else if (!strcmp(optarg, "rx"))
				o->role = GEN_RX;
			else if (!strcmp(optarg, "ping"))
				o->role = GEN_PING;
			else if (!strcmp(optarg, "pong"))
				o->role = GEN_PONG;
			else
				gen_usage_error(o, "-f: expected tx, rx, ping or pong, got '%s'",
						optarg);
			break;
		case 'l':
			o->len = opt_uint(o, 'l', optarg, GEN_MIN_LEN, GEN_MAX_LEN);
			break;
		case 'n': {
			uint64_t v;

			if (parse_u64(optarg, 0, UINT64_MAX, &v))
				gen_usage_error(o, "-n: expected a packet count, got '%s'",
						optarg);
			o->count = v;
			break;
		}
		case 'b':
			o->burst = opt_uint(o, 'b', optarg, 1, 65536);
			burst_set = 1;
			break;
		case 'w':
			o->wait = opt_uint(o, 'w', optarg, 0, 3600);
			break;
		case 'R':
			o->rate = opt_rate(o, optarg);
			break;
		case 'N':
			o->normalize = 0;
			break;
		case 'p':
			o->threads = opt_uint(o, 'p', optarg, 1, tool->max_threads);
			break;
		case 'a':
			o->cpu = (int)opt_uint(o, 'a', optarg, 0, 4095);
			break;
		case 's':
			opt_addr(o, 's', optarg, &o->src_ip, &o->src_port);
			break;
		case 'd':
			opt_addr(o, 'd', optarg, &o->dst_ip, &o->dst_port);
			break;
		case 'S':
			opt_mac(o, 'S', optarg, o->src_mac);
			o->src_mac_set = 1;
			break;
		case 'D':
			opt_mac(o, 'D', optarg, o->dst_mac);
			break;
		case 'v':
			o->verbose++;
			break;
		case OPT_VERIFY:
			o->verify = 1;
			break;
		case OPT_JSON:
			o->json = 1;
			break;
		case OPT_IDLE:
			o->idle = opt_seconds(o, "--idle", optarg, 0);
			break;
		case OPT_TIMEOUT:
			o->timeout = opt_seconds(o, "--timeout", optarg, 1);
			break;
		case OPT_BUSY:
			if (!tool->loops)
				gen_usage_error(o, "--busy-wait: %s has one loop style",
						tool->name);
			o->busy = 1;
			break;
		case ':':
			if (optopt)
				gen_usage_error(o, "option -%c needs a value", optopt);
			gen_usage_error(o, "option %s needs a value",
					argv[optind - 1]);
		default:
			if (optopt)
				gen_usage_error(o, "unknown option -%c", optopt);
			gen_usage_error(o, "unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		gen_usage_error(o, "unexpected argument '%s'", argv[optind]);
	if (!o->port)
		gen_usage_error(o, "-i is required");
	if ((o->role == GEN_PING || o->role == GEN_PONG) && o->threads > 1)
		gen_usage_error(o, "-p: ping and pong run one thread");
	if (o->role == GEN_PING && burst_set && o->burst != 1)
		gen_usage_error(o, "-b: ping keeps one packet in flight");
	if (o->rate && (o->role == GEN_RX || o->role == GEN_PONG))
		gen_usage_error(o, "-R: only tx and ping send at a rate");
}

static void on_signal(int sig)
{
	(void)sig;
	gen_stop = 1;
}

void gen_install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

void gen_pin_cpu(const struct gen_opts *o, unsigned int thread)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;
	int cpu, err;

	if (o->cpu < 0)
		return;
	if (ncpu < 1)
		ncpu = 1;
	cpu = (int)(((unsigned long)o->cpu + thread) % (unsigned long)ncpu);
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (err)
		fprintf(stderr, "%s: warning: cannot pin thread %u to CPU %d: %s\n",
			o->prog, thread, cpu, strerror(err));
}

/* ---------------------------------------------------------------------- */
/* Time                                                                    */
/* ---------------------------------------------------------------------- */

double gen_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void gen_sleep(double seconds)
{
	struct timespec ts;

	if (seconds <= 0)
		return;
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

uint64_t gen_rate_allowance(double rate, double t0, uint64_t sent)
{
	double due;

	if (rate <= 0)
		return UINT64_MAX;
	due = (gen_now() - t0) * rate + 1;
	return due > (double)sent ? (uint64_t)(due - (double)sent) : 0;
}

int gen_pace(const struct gen_opts *o, double rate, double t0, uint64_t seq,
	     double nap, uint64_t *budget)
{
	uint64_t allowed = gen_rate_allowance(rate, t0, seq);
	double next;

	if (o->timeout && gen_now() - t0 >= o->timeout)
		return -1;
	if (!allowed) {
		next = t0 + (double)seq / rate - gen_now();
		gen_sleep(next < nap ? next : nap);
		return 0;
	}
	if (budget)
		*budget = allowed;
	return 1;
}

/* tx slots handed to the kernel and not completed yet, on all rings. */
static uint64_t tx_pending(const struct nm_port *p)
{
	uint64_t n = 0;
	unsigned int r;

	for (r = p->rings.first_tx; r <= p->rings.last_tx; r++) {
		const struct netmap_ring *ring = nm_port_txring(p, r);

		n += ring->num_slots - 1 - nm_ring_space(ring);
	}
	return n;
}

uint64_t gen_tx_drain(const struct nm_port *p, double linger, const char **err)
{
	uint64_t pending = tx_pending(p), before;
	double give_up = gen_now() + linger;

	while (pending && !gen_stop && gen_now() < give_up) {
		gen_sleep(0.0002);
		if (ioctl(p->fd, NIOCTXSYNC, NULL) < 0) {
			*err = strerror(errno);
			return pending;
		}
		before = pending;
		pending = tx_pending(p);
		if (pending < before)
			give_up = gen_now() + linger;
	}
	return pending;
}

/* ---------------------------------------------------------------------- */
/* Frames                                                                  */
/* ---------------------------------------------------------------------- */

static uint8_t gen_pattern(unsigned int k)
{
	return (uint8_t)((k * 131u) ^ (k >> 8));
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static uint16_t ip_checksum(const uint8_t *p, unsigned int len)
{
	uint32_t sum = 0;
	unsigned int i;

	for (i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

void gen_template_init(const struct gen_opts *o)
{
	uint8_t *ip = tmpl + 14, *udp = tmpl + 34;
	unsigned int k;

	for (k = GEN_HDR_LEN; k < GEN_MAX_LEN; k++)
		tmpl[k] = gen_pattern(k);
	memcpy(tmpl, o->dst_mac, 6);
	memcpy(tmpl + 6, o->src_mac, 6);
	put16(tmpl + 12, 0x0800);
	ip[0] = 0x45;				/* IPv4, 20-byte header */
	ip[1] = 0;
	put16(ip + 2, (uint16_t)(o->len - 14));
	put16(ip + 4, 0);			/* id */
	put16(ip + 6, 0);			/* no fragments */
	ip[8] = 64;				/* ttl */
	ip[9] = 17;				/* UDP */
	put16(ip + 10, 0);
	memcpy(ip + 12, &o->src_ip, 4);
	memcpy(ip + 16, &o->dst_ip, 4);
	put16(ip + 10, ip_checksum(ip, 20));
	put16(udp, o->src_port);
	put16(udp + 2, o->dst_port);
	put16(udp + 4, (uint16_t)(o->len - 34));
	put16(udp + 6, 0);			/* no checksum */
	put32(tmpl + GEN_OFS_MAGIC, GEN_MAGIC);
	put64(tmpl + GEN_OFS_SEQ, 0);
	put16(tmpl + GEN_OFS_STREAM, GEN_STREAM_NONE);
}

/*
 * Write bytes ofs..ofs+len-1 of frame seq of a stream into dst. The first
 * fragment (ofs 0) must hold the whole header (GEN_HDR_LEN bytes).
 */
void gen_fill(uint8_t *dst, unsigned int ofs, unsigned int len, uint64_t seq,
	      uint16_t stream)
{
	memcpy(dst, tmpl + ofs, len);
	if (ofs == 0)
		gen_number(dst, seq, stream);
}

void gen_fill_plain(uint8_t *dst, unsigned int ofs, unsigned int len)
{
	memcpy(dst, tmpl + ofs, len);
}

void gen_number(uint8_t *frame, uint64_t seq, uint16_t stream)
{
	put64(frame + GEN_OFS_SEQ, seq);
	put16(frame + GEN_OFS_STREAM, stream);
}

/* Turn a frame into its reply: swap MACs, IP addresses and UDP ports. */
void gen_swap_addresses(uint8_t *f)
{
	uint8_t t[6];

	memcpy(t, f, 6);
	memcpy(f, f + 6, 6);
	memcpy(f + 6, t, 6);
	memcpy(t, f + 26, 4);		/* the IP checksum does not change */
	memcpy(f + 26, f + 30, 4);
	memcpy(f + 30, t, 4);
	memcpy(t, f + 34, 2);
	memcpy(f + 34, f + 36, 2);
	memcpy(f + 36, t, 2);
}

int gen_frame_seq(const uint8_t *f, unsigned int len, uint64_t *seq,
		  uint16_t *stream)
{
	if (len < GEN_HDR_LEN || get16(f + 12) != 0x0800 || f[14] != 0x45 ||
	    f[23] != 17 || get32(f + GEN_OFS_MAGIC) != GEN_MAGIC)
		return -1;
	*seq = get64(f + GEN_OFS_SEQ);
	*stream = get16(f + GEN_OFS_STREAM);
	return 0;
}

int gen_check_fragment(const uint8_t *frag, unsigned int ofs,
		       unsigned int len)
{
	unsigned int skip = ofs < GEN_HDR_LEN ? GEN_HDR_LEN - ofs : 0;

	if (ofs + len > GEN_MAX_LEN)
		return -1;
	if (skip >= len)
		return 0;
	return memcmp(frag + skip, tmpl + ofs + skip, len - skip) ? -1 : 0;
}

int gen_check_length(const uint8_t *f, unsigned int total)
{
	return get16(f + 14 + 2) + 14u == total ? 0 : -1;
}

void gen_check_seq(struct gen_checker *c, struct gen_stats *st, uint64_t seq,
		   uint16_t stream)
{
	uint64_t want;

	if (stream == GEN_STREAM_NONE)
		return;
	if (stream >= GEN_MAX_THREADS) {
		st->errors++;
		return;
	}
	want = c->next[stream];
	if (seq != want) {
		st->errors++;
		if (seq > want)
			st->lost += seq - want;
	}
	c->next[stream] = seq + 1;
}

/* ---------------------------------------------------------------------- */
/* Statistics and the report                                               */
/* ---------------------------------------------------------------------- */

void gen_stats_rtt(struct gen_stats *st, double rtt)
{
	if (!st->rtt_count || rtt < st->rtt_min)
		st->rtt_min = rtt;
	if (!st->rtt_count || rtt > st->rtt_max)
		st->rtt_max = rtt;
	st->rtt_sum += rtt;
	st->rtt_count++;
}

void gen_ping_outcome(struct gen_stats *st, int answered, double sent_at)
{
	if (answered) {
		gen_stats_rtt(st, gen_now() - sent_at);
		st->packets++;
	} else if (!gen_stop) {
		st->errors++;
		st->lost++;
	}
}

void gen_wait_start(const struct gen_opts *o)
{
	double until = gen_now() + o->wait;

	while (!gen_stop && gen_now() < until)
		gen_sleep(0.05);
}

void gen_stats_merge(struct gen_stats *all, const struct gen_stats *one)
{
	if (one->packets) {
		if (!all->packets || one->tic < all->tic)
			all->tic = one->tic;
		if (!all->packets || one->toc > all->toc)
			all->toc = one->toc;
	}
	all->packets += one->packets;
	all->bytes += one->bytes;
	all->events += one->events;
	all->errors += one->errors;
	all->lost += one->lost;
	if (one->rtt_count) {
		if (!all->rtt_count || one->rtt_min < all->rtt_min)
			all->rtt_min = one->rtt_min;
		if (!all->rtt_count || one->rtt_max > all->rtt_max)
			all->rtt_max = one->rtt_max;
		all->rtt_sum += one->rtt_sum;
		all->rtt_count += one->rtt_count;
	}
}

/* val with a K, M, G or T prefix (three decimals), or plain with -N. */
static const char *norm(char *buf, size_t size, double val, int normalize)
{
	static const char *const units[] = { "", "K", "M", "G", "T" };
	unsigned int i = 0;

	if (!normalize) {
		snprintf(buf, size, "%.0f ", val);
		return buf;
	}
	while (val >= 1000 && i + 1 < sizeof(units) / sizeof(units[0])) {
		val /= 1000;
		i++;
	}
	snprintf(buf, size, "%.3f %s", val, units[i]);
	return buf;
}

static const char *role_name(enum gen_role role)
{
	switch (role) {
	case GEN_TX:
		return "tx";
	case GEN_PING:
		return "ping";
	case GEN_PONG:
		return "pong";
	default:
		return "rx";
	}
}

void gen_report(const struct gen_opts *o, const struct gen_stats *st)
{
	FILE *out = o->json ? stderr : stdout;
	double secs = st->packets ? st->toc - st->tic : 0;
	double pps = 0, bps = 0, raw = 0, batch = 0;
	char b1[48], b2[48], b3[48];
	const char *verb;

	if (secs > 0) {
		pps = (double)st->packets / secs;
		bps = 8.0 * (double)st->bytes / secs;
		raw = 8.0 * ((double)st->bytes +
			     (double)st->packets * GEN_FRAMING) / secs;
	}
	if (st->events)
		batch = (double)st->packets / (double)st->events;
	verb = o->role == GEN_TX ? "Sent" : o->role == GEN_RX ? "Received" :
	       o->role == GEN_PING ? "Ping-pong rounds:" : "Answered";
	if (st->packets)
		fprintf(out, "%s %llu packets %llu bytes %llu events %llu bytes each in %.2f seconds.\n",
			verb, (unsigned long long)st->packets,
			(unsigned long long)st->bytes,
			(unsigned long long)st->events,
			(unsigned long long)(st->bytes / st->packets), secs);
	else
		fprintf(out, "%s nothing.\n", verb);
	if (o->verify || o->role == GEN_PING)
		fprintf(out, "Errors: %llu, lost: %llu\n",
			(unsigned long long)st->errors,
			(unsigned long long)st->lost);
	if (st->rtt_count)
		fprintf(out, "RTT: min %.3f us avg %.3f us max %.3f us\n",
			st->rtt_min * 1e6,
			st->rtt_sum / (double)st->rtt_count * 1e6,
			st->rtt_max * 1e6);
	fprintf(out, "Speed: %spps Bandwidth: %sbps (raw %sbps). Average batch: %.2f pkts\n",
		norm(b1, sizeof(b1), pps, o->normalize),
		norm(b2, sizeof(b2), bps, o->normalize),
		norm(b3, sizeof(b3), raw, o->normalize), batch);
	fflush(out);
	if (!o->json)
		return;
	printf("{\"role\": \"%s\", \"packets\": %llu, \"bytes\": %llu, "
	       "\"seconds\": %.6f, \"pps\": %.3f, \"bps\": %.3f, "
	       "\"errors\": %llu, \"lost\": %llu",
	       role_name(o->role), (unsigned long long)st->packets,
	       (unsigned long long)st->bytes, secs, pps, bps,
	       (unsigned long long)st->errors, (unsigned long long)st->lost);
	if (o->loops)
		printf(", \"loop\": \"%s\"", o->busy ? "busy" : "poll");
	if (st->rtt_count)
		printf(", \"rtt_min_us\": %.3f, \"rtt_avg_us\": %.3f, \"rtt_max_us\": %.3f",
		       st->rtt_min * 1e6,
		       st->rtt_sum / (double)st->rtt_count * 1e6,
		       st->rtt_max * 1e6);
	printf("}\n");
	fflush(stdout);
}

int gen_exit_code(const struct gen_opts *o, const struct gen_stats *st)
{
	return o->verify && st->errors ? 1 : 0;
}
