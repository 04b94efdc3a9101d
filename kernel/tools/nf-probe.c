// SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause
/*
 * nf-probe: send a described mix of frames through a chain of network
 * functions and report, flow by flow, what came out of the other end.
 *
 *   nf-probe -a PORT_A -b PORT_B -f MIX [--repeat N] [--timeout S] [--settle S]
 *
 * PORT_A is the ingress end (frames of "ab" flows go in there and are
 * expected out of PORT_B), PORT_B the egress end ("ba" flows the other
 * way). The mix file (or "-" for stdin) holds one flow a line; '#' starts
 * a comment:
 *
 *   flow NAME ab|ba tcp|udp|icmp SRC SPORT DST DPORT COUNT [HEX|-]
 *   reply NAME OF COUNT [HEX|-]
 *
 * A flow sends COUNT frames (times --repeat) from SRC:SPORT to DST:DPORT
 * (for icmp: echo requests, SPORT is the identifier, DPORT must equal it)
 * with the payload HEX. A reply flow is sent once the first phase is over:
 * it answers flow OF from where OF's frames came out, swapping the source
 * and destination seen there (a NAT's translated address and port), into
 * the port they came out of; its frames are expected back at the other
 * port (with the NAT: at the inside address). ICMP replies are echo
 * replies. A reply to a flow of which nothing came out is skipped.
 *
 * Each frame is Ethernet + IPv4 (20 bytes, valid checksum) + TCP (20
 * bytes, PSH|ACK) / UDP / ICMP echo, with checksums, and its L4 payload
 * ends in a 12-byte tag: "PTNF", the flow index (u16), 0 (u16), the frame
 * number in the flow (u32). Frames are padded to 60 bytes after the IP
 * packet.
 *
 * The report, one JSON object on stdout:
 *   {"a": PORTSTATS, "b": PORTSTATS, "elapsed_s": S, "mpps": M,
 *    "flows": [{"name", "dir" ("ab"|"ba"), "proto", "reply_to" (or null),
 *               "sent", "received", "wrong_port", "skipped",
 *               "sent_as": TUPLE, "received_as": TUPLE or null,
 *               "consistent" (every frame out with one tuple),
 *               "csum_ok" (every IP/L4 checksum out valid),
 *               "payload_ok" (every payload out as sent)}]}
 *   PORTSTATS = {"port", "tx", "rx", "untagged"}
 *   TUPLE = {"src", "sport", "dst", "dport"}
 * mpps: frames received over the time from the first send to the last
 * receive. Exit status: 0 when the probe ran (the verdict is the
 * caller's), 2 for a bad command line or mix, 1 for a port failure.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define NETMAP_WITH_LIBS
#include <net/netmap_user.h>

#include "nf.h"

#define PR_MAX_FLOWS	256
#define PR_MAX_PAYLOAD	1400
#define PR_TAG_LEN	12

struct tuple {
	uint32_t src, dst;
	uint16_t sport, dport;
};

struct flow {
	char name[64];
	int ba;				/* sent into B */
	uint8_t proto;
	int reply_to;			/* flow index, or -1 */
	struct tuple as;		/* as sent */
	uint32_t count;
	uint8_t payload[PR_MAX_PAYLOAD];
	unsigned int payload_len;
	uint64_t sent, received, wrong_port;
	int skipped, have_out, consistent, csum_ok, payload_ok;
	struct tuple out;		/* as received (the first frame) */
};

struct pport {
	const char *spec;
	struct nm_port nm;
	uint64_t tx, rx, untagged;
};

static struct flow flows[PR_MAX_FLOWS];
static unsigned int nflows;
static struct pport pa, pb;
static double first_tx, last_rx;

/* ---------------------------------------------------------------------- */
/* The mix                                                                 */
/* ---------------------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void parse_payload(struct flow *f, const char *hex, const char *file,
			  unsigned int line)
{
	size_t n = strlen(hex), i;

	if (!strcmp(hex, "-"))
		return;
	if (n % 2 || n / 2 > PR_MAX_PAYLOAD)
		nf_config_error(file, line, "payload '%.20s...': an even number of hex digits, at most %d bytes",
				hex, PR_MAX_PAYLOAD);
	for (i = 0; i < n; i += 2) {
		int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);

		if (hi < 0 || lo < 0)
			nf_config_error(file, line, "payload: '%c%c' is not hex",
					hex[i], hex[i + 1]);
		f->payload[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	f->payload_len = (unsigned int)(n / 2);
}

static int flow_index(const char *name)
{
	unsigned int i;

	for (i = 0; i < nflows; i++)
		if (!strcmp(flows[i].name, name))
			return (int)i;
	return -1;
}

static void parse_line(char **w, unsigned int n, const char *file,
		       unsigned int line)
{
	struct flow *f;
	uint32_t v;

	if (nflows == PR_MAX_FLOWS)
		nf_config_error(file, line, "more than %d flows", PR_MAX_FLOWS);
	f = &flows[nflows];
	memset(f, 0, sizeof(*f));
	f->reply_to = -1;
	if (!strcmp(w[0], "reply")) {
		if (n < 4 || n > 5)
			nf_config_error(file, line, "reply NAME OF COUNT [HEX]");
		f->reply_to = flow_index(w[2]);
		if (f->reply_to < 0)
			nf_config_error(file, line, "'%s': no such flow before", w[2]);
		f->ba = !flows[f->reply_to].ba;
		f->proto = flows[f->reply_to].proto;
		if (nf_parse_u32(w[3], 1000000, &f->count))
			nf_config_error(file, line, "'%s': a count up to 1000000", w[3]);
		if (n == 5)
			parse_payload(f, w[4], file, line);
	} else if (!strcmp(w[0], "flow")) {
		if (n < 9 || n > 10)
			nf_config_error(file, line,
					"flow NAME ab|ba PROTO SRC SPORT DST DPORT COUNT [HEX]");
		if (!strcmp(w[2], "ab"))
			f->ba = 0;
		else if (!strcmp(w[2], "ba"))
			f->ba = 1;
		else
			nf_config_error(file, line, "'%s': ab or ba", w[2]);
		if (!strcmp(w[3], "tcp"))
			f->proto = NF_PROTO_TCP;
		else if (!strcmp(w[3], "udp"))
			f->proto = NF_PROTO_UDP;
		else if (!strcmp(w[3], "icmp"))
			f->proto = NF_PROTO_ICMP;
		else
			nf_config_error(file, line, "'%s': tcp, udp or icmp", w[3]);
		if (nf_parse_ipv4(w[4], &f->as.src))
			nf_config_error(file, line, "'%s': not an IPv4 address", w[4]);
		if (nf_parse_u32(w[5], 65535, &v))
			nf_config_error(file, line, "'%s': not a port", w[5]);
		f->as.sport = (uint16_t)v;
		if (nf_parse_ipv4(w[6], &f->as.dst))
			nf_config_error(file, line, "'%s': not an IPv4 address", w[6]);
		if (nf_parse_u32(w[7], 65535, &v))
			nf_config_error(file, line, "'%s': not a port", w[7]);
		f->as.dport = (uint16_t)v;
		if (f->proto == NF_PROTO_ICMP && f->as.sport != f->as.dport)
			nf_config_error(file, line, "icmp: SPORT and DPORT are the echo id, equal");
		if (nf_parse_u32(w[8], 1000000, &f->count))
			nf_config_error(file, line, "'%s': a count up to 1000000", w[8]);
		if (n == 10)
			parse_payload(f, w[9], file, line);
	} else {
		nf_config_error(file, line, "'%s': flow or reply", w[0]);
	}
	if (strlen(w[1]) >= sizeof(f->name))
		nf_config_error(file, line, "'%.20s...': name too long", w[1]);
	if (flow_index(w[1]) >= 0)
		nf_config_error(file, line, "'%s': a second flow of that name", w[1]);
	strcpy(f->name, w[1]);
	f->consistent = f->csum_ok = f->payload_ok = 1;
	nflows++;
}

static void load_mix(const char *path)
{
	FILE *fp = strcmp(path, "-") ? fopen(path, "r") : stdin;
	char buf[4096], *w[NF_MAX_WORDS];
	unsigned int line = 0, n;

	if (!fp)
		nf_usage_error("%s: %s", path, strerror(errno));
	while (nf_config_line(fp, path, buf, sizeof(buf), &line)) {
		n = nf_split(buf, w, NF_MAX_WORDS);
		if (n > NF_MAX_WORDS)
			nf_config_error(path, line, "too many words");
		if (n)
			parse_line(w, n, path, line);
	}
	if (fp != stdin)
		fclose(fp);
	if (!nflows)
		nf_config_error(path, line, "no flow");
}

/* ---------------------------------------------------------------------- */
/* Frames                                                                  */
/* ---------------------------------------------------------------------- */

static uint32_t pseudo_sum(const struct tuple *t, uint8_t proto,
			   unsigned int l4len)
{
	return (t->src >> 16) + (t->src & 0xffff) + (t->dst >> 16) +
	       (t->dst & 0xffff) + proto + l4len;
}

/* Build frame seq of flow f with tuple t into buf; returns its length. */
static unsigned int build(uint8_t *buf, const struct flow *f,
			  const struct tuple *t, uint32_t seq)
{
	static const uint8_t mac_a[6] = { 2, 0, 0, 0, 0, 1 };
	static const uint8_t mac_b[6] = { 2, 0, 0, 0, 0, 2 };
	unsigned int hl = f->proto == NF_PROTO_TCP ? 20 : 8;
	unsigned int l4len = hl + f->payload_len + PR_TAG_LEN;
	uint8_t *ip = buf + 14, *l4 = ip + 20, *pl = l4 + hl, *tag;
	unsigned int len = 14 + 20 + l4len;

	memset(buf, 0, len < 60 ? 60 : len);
	memcpy(buf, f->ba ? mac_a : mac_b, 6);
	memcpy(buf + 6, f->ba ? mac_b : mac_a, 6);
	nf_put16(buf + 12, 0x0800);
	ip[0] = 0x45;
	nf_put16(ip + 2, (uint16_t)(20 + l4len));
	nf_put16(ip + 4, (uint16_t)seq);
	nf_put16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = f->proto;
	nf_put32(ip + 12, t->src);
	nf_put32(ip + 16, t->dst);
	nf_put16(ip + 10, nf_csum(ip, 20, 0));
	memcpy(pl, f->payload, f->payload_len);
	tag = pl + f->payload_len;
	memcpy(tag, "PTNF", 4);
	nf_put16(tag + 4, (uint16_t)(f - flows));
	nf_put32(tag + 8, seq);
	switch (f->proto) {
	case NF_PROTO_TCP:
		nf_put16(l4, t->sport);
		nf_put16(l4 + 2, t->dport);
		nf_put32(l4 + 4, seq);
		l4[12] = 5 << 4;
		l4[13] = 0x18;
		nf_put16(l4 + 14, 65535);
		nf_put16(l4 + 16, nf_csum(l4, l4len, pseudo_sum(t, f->proto, l4len)));
		break;
	case NF_PROTO_UDP:
		nf_put16(l4, t->sport);
		nf_put16(l4 + 2, t->dport);
		nf_put16(l4 + 4, (uint16_t)l4len);
		nf_put16(l4 + 6, nf_csum(l4, l4len, pseudo_sum(t, f->proto, l4len)));
		if (!l4[6] && !l4[7])
			nf_put16(l4 + 6, 0xffff);
		break;
	default:
		l4[0] = f->reply_to >= 0 ? 0 : 8;
		nf_put16(l4 + 4, t->sport);
		nf_put16(l4 + 6, (uint16_t)seq);
		nf_put16(l4 + 2, nf_csum(l4, l4len, 0));
		break;
	}
	return len < 60 ? 60 : len;
}

/* Whether the IP and L4 checksums of p hold. */
static int csum_valid(const struct nf_pkt *p)
{
	struct tuple t = { p->saddr, p->daddr, 0, 0 };

	if (nf_csum(p->ip, 20, 0) != 0)
		return 0;
	switch (p->proto) {
	case NF_PROTO_UDP:
		if (!p->l4[6] && !p->l4[7])
			return 1;
		/* fall through */
	case NF_PROTO_TCP:
		return nf_csum(p->l4, p->l4_len,
			       pseudo_sum(&t, p->proto, p->l4_len)) == 0;
	default:
		return nf_csum(p->l4, p->l4_len, 0) == 0;
	}
}

static void receive(struct pport *at, int at_b, uint8_t *buf, unsigned int len)
{
	struct nf_pkt p;
	const uint8_t *tag;
	struct tuple t;
	struct flow *f;
	unsigned int idx;

	if (nf_parse(buf, len, &p) || !p.l4 ||
	    p.payload_len < PR_TAG_LEN) {
		at->untagged++;
		return;
	}
	tag = p.payload + p.payload_len - PR_TAG_LEN;
	idx = (unsigned int)(tag[4] << 8 | tag[5]);
	if (memcmp(tag, "PTNF", 4) || idx >= nflows) {
		at->untagged++;
		return;
	}
	f = &flows[idx];
	if (f->ba == at_b) {
		f->wrong_port++;
		return;
	}
	f->received++;
	last_rx = nf_clock();
	t = (struct tuple){ p.saddr, p.daddr, p.sport, p.dport };
	if (!f->have_out) {
		f->out = t;
		f->have_out = 1;
	} else if (memcmp(&f->out, &t, sizeof(t))) {
		f->consistent = 0;
	}
	if (!csum_valid(&p))
		f->csum_ok = 0;
	if (p.payload_len != f->payload_len + PR_TAG_LEN ||
	    memcmp(p.payload, f->payload, f->payload_len))
		f->payload_ok = 0;
}

/* ---------------------------------------------------------------------- */
/* The exchange                                                            */
/* ---------------------------------------------------------------------- */

static void drain(struct pport *p, int is_b)
{
	unsigned int i;

	ioctl(p->nm.fd, NIOCRXSYNC, NULL);
	for (i = p->nm.rings.first_rx; i <= p->nm.rings.last_rx; i++) {
		struct netmap_ring *rx = nm_port_rxring(&p->nm, i);

		while (!nm_ring_empty(rx)) {
			struct netmap_slot *s = &rx->slot[rx->cur];

			if (!(s->flags & NS_MOREFRAG) && s->len <= rx->nr_buf_size) {
				p->rx++;
				receive(p, is_b,
					(uint8_t *)NETMAP_BUF(rx, s->buf_idx),
					s->len);
			}
			rx->head = rx->cur = nm_ring_next(rx, rx->cur);
		}
	}
}

/* Queue what fits of the flows to send into p; returns whether all went. */
static int fill(struct pport *p, int is_b, int replies, uint32_t repeat)
{
	struct netmap_ring *tx = nm_port_txring(&p->nm, p->nm.rings.first_tx);
	unsigned int i;
	int done = 1;

	for (i = 0; i < nflows; i++) {
		struct flow *f = &flows[i];
		struct tuple t = f->as;

		if (f->ba != is_b || (f->reply_to >= 0) != replies || f->skipped)
			continue;
		if (f->reply_to >= 0) {
			const struct flow *of = &flows[f->reply_to];

			t = (struct tuple){ of->out.dst, of->out.src,
					    of->out.dport, of->out.sport };
			f->as = t;
		}
		while (f->sent < (uint64_t)f->count * repeat) {
			struct netmap_slot *s;

			if (nm_ring_empty(tx))
				return 0;
			s = &tx->slot[tx->cur];
			s->len = (uint16_t)build((uint8_t *)NETMAP_BUF(tx, s->buf_idx),
						 f, &t, (uint32_t)f->sent);
			s->flags = 0;
			tx->head = tx->cur = nm_ring_next(tx, tx->cur);
			f->sent++;
			p->tx++;
			if (!first_tx)
				first_tx = nf_clock();
		}
	}
	return done;
}

/* Send one phase, then receive until quiet for settle s (or timeout). */
static void phase(int replies, uint32_t repeat, double settle, double deadline)
{
	int sent_a = 0, sent_b = 0;
	double quiet_since = 0;
	uint64_t seen = (uint64_t)-1;

	for (;;) {
		struct pollfd pfd[2];
		uint64_t now_seen = pa.rx + pb.rx;
		double now = nf_clock();

		if (!sent_a)
			sent_a = fill(&pa, 0, replies, repeat);
		if (!sent_b)
			sent_b = fill(&pb, 1, replies, repeat);
		ioctl(pa.nm.fd, NIOCTXSYNC, NULL);
		ioctl(pb.nm.fd, NIOCTXSYNC, NULL);
		drain(&pa, 0);
		drain(&pb, 1);
		now_seen = pa.rx + pb.rx;
		if (now_seen != seen || !sent_a || !sent_b) {
			seen = now_seen;
			quiet_since = now;
		} else if (now - quiet_since >= settle) {
			return;
		}
		if (now >= deadline)
			return;
		pfd[0] = (struct pollfd){ pa.nm.fd, POLLIN | (sent_a ? 0 : POLLOUT), 0 };
		pfd[1] = (struct pollfd){ pb.nm.fd, POLLIN | (sent_b ? 0 : POLLOUT), 0 };
		if (poll(pfd, 2, 20) < 0 && errno != EINTR)
			nf_fatal("poll: %s", strerror(errno));
	}
}

/* ---------------------------------------------------------------------- */
/* Report                                                                  */
/* ---------------------------------------------------------------------- */

static void tuple_json(const struct tuple *t)
{
	char a[16], b[16];

	printf("{\"src\":\"%s\",\"sport\":%u,\"dst\":\"%s\",\"dport\":%u}",
	       nf_ip_str(t->src, a), t->sport, nf_ip_str(t->dst, b), t->dport);
}

static void port_json(const struct pport *p)
{
	printf("{\"port\":");
	nf_json_string(stdout, p->spec);
	printf(",\"tx\":%llu,\"rx\":%llu,\"untagged\":%llu}",
	       (unsigned long long)p->tx, (unsigned long long)p->rx,
	       (unsigned long long)p->untagged);
}

static void report(void)
{
	uint64_t got = 0;
	double span = last_rx - first_tx;
	unsigned int i;

	printf("{\"a\":");
	port_json(&pa);
	printf(",\"b\":");
	port_json(&pb);
	for (i = 0; i < nflows; i++)
		got += flows[i].received;
	printf(",\"elapsed_s\":%.6f,\"mpps\":%.6f,\"flows\":[",
	       span > 0 ? span : 0.0, span > 0 ? got / span / 1e6 : 0.0);
	for (i = 0; i < nflows; i++) {
		const struct flow *f = &flows[i];

		printf("%s{\"name\":", i ? "," : "");
		nf_json_string(stdout, f->name);
		printf(",\"dir\":\"%s\",\"proto\":\"%s\",\"reply_to\":",
		       f->ba ? "ba" : "ab",
		       f->proto == NF_PROTO_TCP ? "tcp" :
		       f->proto == NF_PROTO_UDP ? "udp" : "icmp");
		if (f->reply_to >= 0)
			nf_json_string(stdout, flows[f->reply_to].name);
		else
			printf("null");
		printf(",\"sent\":%llu,\"received\":%llu,\"wrong_port\":%llu,"
		       "\"skipped\":%s,\"sent_as\":",
		       (unsigned long long)f->sent,
		       (unsigned long long)f->received,
		       (unsigned long long)f->wrong_port,
		       f->skipped ? "true" : "false");
		tuple_json(&f->as);
		printf(",\"received_as\":");
		if (f->have_out)
			tuple_json(&f->out);
		else
			printf("null");
		printf(",\"consistent\":%s,\"csum_ok\":%s,\"payload_ok\":%s}",
		       f->consistent ? "true" : "false",
		       f->csum_ok ? "true" : "false",
		       f->payload_ok ? "true" : "false");
	}
	printf("]}\n");
}

static void usage(void)
{
	printf("nf-probe: send a mix of flows through a chain, report what came out\n"
	       "Usage: %s -a PORT_A -b PORT_B -f MIX [options]\n"
	       "  -a PORT        the ingress end (\"ab\" flows go in here)\n"
	       "  -b PORT        the egress end (\"ba\" flows go in here)\n"
	       "  -f MIX         the mix file, '-' for stdin:\n"
	       "                   flow NAME ab|ba tcp|udp|icmp SRC SPORT DST DPORT COUNT [HEX|-]\n"
	       "                   reply NAME OF COUNT [HEX|-]\n"
	       "  -r, --repeat N send each flow's COUNT N times over (default 1)\n"
	       "  -t, --timeout S give up on a phase after S seconds (default 10)\n"
	       "  -s, --settle S a phase ends after S seconds with nothing received\n"
	       "                 (default 1)\n"
	       "  -h, --help     this help\n"
	       "The report is one JSON object on stdout (see the top of nf-probe.c).\n",
	       nf_prog);
}

static double seconds_arg(const char *opt, const char *arg)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || *end || end == arg || !(v > 0) || v > 3600)
		nf_usage_error("%s: seconds, more than 0 and at most 3600", opt);
	return v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "repeat", required_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ "settle", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *mix = NULL;
	double timeout = 10, settle = 1.0;
	uint32_t repeat = 1;
	unsigned int i;
	int c;

	if (argv[0] && strrchr(argv[0], '/'))
		nf_prog = strrchr(argv[0], '/') + 1;
	else if (argv[0])
		nf_prog = argv[0];
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":a:b:f:r:t:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			pa.spec = optarg;
			break;
		case 'b':
			pb.spec = optarg;
			break;
		case 'f':
			mix = optarg;
			break;
		case 'r':
			if (nf_parse_u32(optarg, 1000000, &repeat) || !repeat)
				nf_usage_error("--repeat: a number from 1 to 1000000");
			break;
		case 't':
			timeout = seconds_arg("--timeout", optarg);
			break;
		case 's':
			settle = seconds_arg("--settle", optarg);
			break;
		case 'h':
			usage();
			return 0;
		case ':':
			nf_usage_error("%s needs an argument", argv[optind - 1]);
		default:
			if (optopt)
				nf_usage_error("unknown option -%c", optopt);
			nf_usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		nf_usage_error("unexpected argument '%s'", argv[optind]);
	if (!pa.spec || !pb.spec || !mix)
		nf_usage_error("give -a PORT_A, -b PORT_B and -f MIX");
	load_mix(mix);
	if (nm_port_open(&pa.nm, pa.spec, 0))
		nf_fatal("%s", pa.nm.errmsg);
	if (nm_port_open(&pb.nm, pb.spec, 0))
		nf_fatal("%s", pb.nm.errmsg);
	if (pa.nm.rings.first_tx > pa.nm.rings.last_tx ||
	    pb.nm.rings.first_tx > pb.nm.rings.last_tx ||
	    pa.nm.rings.first_rx > pa.nm.rings.last_rx ||
	    pb.nm.rings.first_rx > pb.nm.rings.last_rx)
		nf_fatal("both ports need rx and tx rings");

	phase(0, repeat, settle, nf_clock() + timeout);
	for (i = 0; i < nflows; i++)
		if (flows[i].reply_to >= 0 && !flows[flows[i].reply_to].have_out)
			flows[i].skipped = 1;
	phase(1, repeat, settle, nf_clock() + timeout);
	report();
	nm_port_close(&pa.nm);
	nm_port_close(&pb.nm);
	return 0;
}
