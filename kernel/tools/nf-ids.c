// SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause
/*
 * nf-ids: signature matching between two netmap ports, passive (alert and
 * forward everything) or inline (--mode ips: drop what matches).
 *
 *   nf-ids -i IN -o OUT [-c RULES] [--mode ids|ips] [--eve FILE]
 *          [--stats FILE] [--stats-interval S]
 *
 * The signatures file (default /etc/ptnet/ids.rules) holds one signature a
 * line, in a subset of the Suricata/Snort rule language; '#' starts a
 * comment line:
 *
 *   alert PROTO SRC SPORT DIR DST DPORT (OPTION; OPTION; ...)
 *
 *   PROTO      tcp, udp, icmp or ip (any IPv4)
 *   SRC, DST   any, A.B.C.D or A.B.C.D/N
 *   SPORT      any, N or N:M (also for DPORT); ports never match ICMP
 *   DIR        -> (as written) or <> (either way)
 *   OPTION     msg:"TEXT"            the signature's name (required)
 *              content:"TEXT"        bytes the payload must hold; |41 42|
 *                                    writes bytes in hex, \" \\ \; \| escape;
 *                                    several contents must all be there
 *                                    (anywhere, in any order)
 *              nocase                the previous content ignores case
 *              sid:N                 the signature id (required, unique)
 *              rev:N                 its revision (default 1)
 *              gid:N                 its group id (default 1)
 *              classtype:NAME        its category (default none)
 *              priority:N            its severity, 1 to 255 (default 3)
 *
 * The payload is what follows the TCP, UDP or ICMP header of one frame (no
 * stream reassembly). Every content of every signature goes into one
 * Aho-Corasick automaton, so each payload is scanned once, whatever the
 * number of signatures. A bad line stops the program with exit status 2
 * and one line "nf-ids: error: FILE:LINE: ..." naming the bad part.
 *
 * Alerts go to --eve (default /run/ptnet-nf/eve.json, "-" for stdout),
 * appended one JSON object a line, with the field names of Suricata's EVE
 * alert records: {"timestamp", "event_type": "alert", "src_ip",
 * "src_port", "dest_ip", "dest_port", "proto", "in_iface", "alert":
 * {"action": "allowed"|"blocked", "gid", "signature_id", "rev",
 * "signature", "category", "severity"}}. A frame raises one alert for
 * each signature it matches.
 *
 * Stats (the "ids" member of --stats): {"mode": "ids"|"ips", "signatures":
 * N, "inspected": N (IPv4 frames), "alerts": N, "blocked": N, "hits":
 * {"SID": N, ...}}.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nf.h"

enum { OPT_MODE = 2000, OPT_EVE };

#define IDS_MAX_SIGS		4096
#define IDS_MAX_CONTENTS	16	/* per signature */
#define IDS_MAX_TEXT		1024

struct ids_sig {
	int proto;			/* -1: ip */
	uint32_t src, src_mask, dst, dst_mask;
	uint16_t sport_lo, sport_hi, dport_lo, dport_hi;
	int sport_any, dport_any;
	int both_ways;
	char msg[256];
	char classtype[64];
	uint32_t sid, rev, gid, priority;
	uint32_t contents[IDS_MAX_CONTENTS];	/* pattern indexes */
	unsigned int ncontents;
	uint64_t hits;
};

struct ids_pat {
	uint8_t *bytes;
	unsigned int len;
	int nocase;
	uint32_t next;			/* the next pattern ending in the same state */
	uint32_t seen;			/* the frame number it last matched in */
};

/* The automaton: a full transition table over case-folded bytes. */
struct ids_ac {
	uint32_t (*delta)[256];
	uint32_t *fail, *out, *dict;	/* per state */
	uint32_t nstates, cap;
};

struct ids {
	struct ids_sig *sigs;
	unsigned int nsigs;
	struct ids_pat *pats;
	unsigned int npats, pats_cap;
	struct ids_ac ac;
	int ips;
	const char *eve_path;
	FILE *eve;
	uint32_t frame_no;
	uint64_t inspected, alerts, blocked;
};

#define AC_NONE	UINT32_MAX

/* ---------------------------------------------------------------------- */
/* Aho-Corasick                                                            */
/* ---------------------------------------------------------------------- */

static uint32_t ac_state(struct ids_ac *ac)
{
	uint32_t s = ac->nstates++;

	if (s == ac->cap) {
		ac->cap = ac->cap ? 2 * ac->cap : 64;
		ac->delta = realloc(ac->delta, ac->cap * sizeof(*ac->delta));
		ac->fail = realloc(ac->fail, ac->cap * sizeof(*ac->fail));
		ac->out = realloc(ac->out, ac->cap * sizeof(*ac->out));
		ac->dict = realloc(ac->dict, ac->cap * sizeof(*ac->dict));
		if (!ac->delta || !ac->fail || !ac->out || !ac->dict)
			nf_fatal("out of memory");
	}
	memset(ac->delta[s], 0xff, sizeof(ac->delta[s]));	/* AC_NONE */
	ac->fail[s] = 0;
	ac->out[s] = AC_NONE;
	ac->dict[s] = AC_NONE;
	return s;
}

/* Build the trie of every pattern, then the failure and dictionary links,
 * turning the trie into a full transition table (breadth first). */
static void ac_build(struct ids *ids)
{
	struct ids_ac *ac = &ids->ac;
	uint32_t *queue, head = 0, tail = 0, p, c;

	ac_state(ac);
	for (p = 0; p < ids->npats; p++) {
		const struct ids_pat *pat = &ids->pats[p];
		uint32_t s = 0, i;

		for (i = 0; i < pat->len; i++) {
			c = (uint8_t)tolower(pat->bytes[i]);
			if (ac->delta[s][c] == AC_NONE) {
				uint32_t n = ac_state(ac);

				ac->delta[s][c] = n;
			}
			s = ac->delta[s][c];
		}
		ids->pats[p].next = ac->out[s];
		ac->out[s] = p;
	}
	queue = malloc(ac->nstates * sizeof(*queue));
	if (!queue)
		nf_fatal("out of memory");
	for (c = 0; c < 256; c++) {
		uint32_t n = ac->delta[0][c];

		if (n == AC_NONE) {
			ac->delta[0][c] = 0;
		} else {
			ac->fail[n] = 0;
			queue[tail++] = n;
		}
	}
	while (head < tail) {
		uint32_t s = queue[head++];
		uint32_t f = ac->fail[s];

		ac->dict[s] = ac->out[f] != AC_NONE ? f : ac->dict[f];
		for (c = 0; c < 256; c++) {
			uint32_t n = ac->delta[s][c];

			if (n == AC_NONE) {
				ac->delta[s][c] = ac->delta[f][c];
			} else {
				ac->fail[n] = ac->delta[f][c];
				queue[tail++] = n;
			}
		}
	}
	free(queue);
}

/* Mark (seen = frame_no) every pattern found in data. */
static void ac_scan(struct ids *ids, const uint8_t *data, unsigned int len)
{
	const struct ids_ac *ac = &ids->ac;
	uint32_t s = 0, i;

	for (i = 0; i < len; i++) {
		uint32_t t;

		s = ac->delta[s][(uint8_t)tolower(data[i])];
		for (t = ac->out[s] != AC_NONE ? s : ac->dict[s]; t != AC_NONE;
		     t = ac->dict[t]) {
			uint32_t p;

			for (p = ac->out[t]; p != AC_NONE; p = ids->pats[p].next) {
				struct ids_pat *pat = &ids->pats[p];

				if (!pat->nocase &&
				    memcmp(data + i + 1 - pat->len, pat->bytes, pat->len))
					continue;
				pat->seen = ids->frame_no;
			}
		}
	}
}

/* ---------------------------------------------------------------------- */
/* Signatures                                                              */
/* ---------------------------------------------------------------------- */

struct cursor {
	const char *file;
	unsigned int line;
	const char *p;
};

#define bad(c, ...)	nf_config_error((c)->file, (c)->line, __VA_ARGS__)

static void skip_space(struct cursor *c)
{
	while (*c->p == ' ' || *c->p == '\t')
		c->p++;
}

/* The next blank-separated word of the header, into buf. */
static const char *header_word(struct cursor *c, char *buf, size_t size,
			       const char *what)
{
	size_t n = 0;

	skip_space(c);
	while (c->p[n] && c->p[n] != ' ' && c->p[n] != '\t' && c->p[n] != '(' &&
	       c->p[n] != '\n')
		n++;
	if (!n)
		bad(c, "expected %s", what);
	if (n >= size)
		bad(c, "'%.20s...': too long for %s", c->p, what);
	memcpy(buf, c->p, n);
	buf[n] = '\0';
	c->p += n;
	return buf;
}

static void parse_addr(struct cursor *c, uint32_t *addr, uint32_t *mask)
{
	char w[64];

	header_word(c, w, sizeof(w), "an address");
	if (!strcmp(w, "any"))
		*addr = *mask = 0;
	else if (nf_parse_prefix(w, addr, mask))
		bad(c, "'%s': an address is any, A.B.C.D or A.B.C.D/N", w);
}

static void parse_ports(struct cursor *c, uint16_t *lo, uint16_t *hi, int *any)
{
	char w[64];

	header_word(c, w, sizeof(w), "a port");
	*any = !strcmp(w, "any");
	if (*any) {
		*lo = 0;
		*hi = 65535;
	} else if (nf_parse_port_range(w, lo, hi)) {
		bad(c, "'%s': a port is any, N or N:M", w);
	}
}

/*
 * A quoted option value into out (at most size bytes, its length in *len);
 * with content set, |hex| sections are bytes.
 */
static void quoted(struct cursor *c, uint8_t *out, size_t size, size_t *len,
		   int content, const char *name)
{
	int hex = 0, half = -1;
	size_t n = 0;

	if (*c->p != '"')
		bad(c, "%s: expected a quoted value", name);
	for (c->p++; *c->p != '"'; c->p++) {
		int ch = (unsigned char)*c->p;

		if (!ch || ch == '\n')
			bad(c, "%s: no closing quote", name);
		if (hex) {
			int v;

			if (ch == '|') {
				if (half >= 0)
					bad(c, "%s: an odd number of hex digits", name);
				hex = 0;
				continue;
			}
			if (ch == ' ')
				continue;
			v = isdigit(ch) ? ch - '0' :
			    isxdigit(ch) ? tolower(ch) - 'a' + 10 : -1;
			if (v < 0)
				bad(c, "%s: '%c' is not a hex digit", name, ch);
			if (half < 0) {
				half = v;
				continue;
			}
			ch = half << 4 | v;
			half = -1;
		} else if (ch == '|' && content) {
			hex = 1;
			continue;
		} else if (ch == '\\') {
			c->p++;
			if (!*c->p || !strchr("\"\\;|", *c->p))
				bad(c, "%s: '\\%c' is not an escape (\\\" \\\\ \\; \\|)",
				    name, *c->p ? *c->p : ' ');
			ch = (unsigned char)*c->p;
		}
		if (n == size)
			bad(c, "%s: longer than %zu bytes", name, size);
		out[n++] = (uint8_t)ch;
	}
	if (hex)
		bad(c, "%s: an unclosed |hex| section", name);
	c->p++;
	*len = n;
}

static uint32_t number(struct cursor *c, const char *name, uint32_t max)
{
	char w[16];
	size_t n = 0;
	uint32_t v;

	while (c->p[n] && c->p[n] != ';' && n < sizeof(w) - 1) {
		w[n] = c->p[n];
		n++;
	}
	w[n] = '\0';
	if (nf_parse_u32(w, max, &v))
		bad(c, "%s: '%s' is not a number up to %u", name, w, max);
	c->p += n;
	return v;
}

static void add_content(struct ids *ids, struct ids_sig *s, struct cursor *c,
			const uint8_t *bytes, size_t len)
{
	struct ids_pat *pat;

	if (!len)
		bad(c, "content: empty");
	if (s->ncontents == IDS_MAX_CONTENTS)
		bad(c, "content: more than %d in one signature", IDS_MAX_CONTENTS);
	if (ids->npats == ids->pats_cap) {
		ids->pats_cap = ids->pats_cap ? 2 * ids->pats_cap : 64;
		ids->pats = realloc(ids->pats, ids->pats_cap * sizeof(*ids->pats));
		if (!ids->pats)
			nf_fatal("out of memory");
	}
	pat = &ids->pats[ids->npats];
	memset(pat, 0, sizeof(*pat));
	pat->bytes = malloc(len);
	if (!pat->bytes)
		nf_fatal("out of memory");
	memcpy(pat->bytes, bytes, len);
	pat->len = (unsigned int)len;
	pat->seen = UINT32_MAX;
	s->contents[s->ncontents++] = ids->npats++;
}

static void parse_options(struct ids *ids, struct ids_sig *s, struct cursor *c)
{
	static uint8_t text[IDS_MAX_TEXT];
	int have_msg = 0, have_sid = 0;

	for (;;) {
		char name[32];
		size_t n = 0, len;

		skip_space(c);
		if (*c->p == ')')
			break;
		while (isalnum((unsigned char)c->p[n]) || c->p[n] == '_')
			n++;
		if (!n || n >= sizeof(name))
			bad(c, "'%.20s': expected an option or ')'", c->p);
		memcpy(name, c->p, n);
		name[n] = '\0';
		c->p += n;
		skip_space(c);
		if (!strcmp(name, "nocase")) {
			if (!s->ncontents)
				bad(c, "nocase: no content before it");
			ids->pats[s->contents[s->ncontents - 1]].nocase = 1;
		} else {
			if (*c->p != ':')
				bad(c, "%s: expected ':' and a value", name);
			c->p++;
			skip_space(c);
			if (!strcmp(name, "msg")) {
				quoted(c, text, sizeof(s->msg) - 1, &len, 0, name);
				memcpy(s->msg, text, len);
				s->msg[len] = '\0';
				have_msg = 1;
			} else if (!strcmp(name, "content")) {
				quoted(c, text, sizeof(text), &len, 1, name);
				add_content(ids, s, c, text, len);
			} else if (!strcmp(name, "classtype")) {
				n = 0;
				while (isalnum((unsigned char)c->p[n]) || c->p[n] == '-' ||
				       c->p[n] == '_')
					n++;
				if (!n || n >= sizeof(s->classtype))
					bad(c, "classtype: expected a name of letters, digits, - and _");
				memcpy(s->classtype, c->p, n);
				s->classtype[n] = '\0';
				c->p += n;
			} else if (!strcmp(name, "sid")) {
				s->sid = number(c, name, UINT32_MAX);
				have_sid = 1;
			} else if (!strcmp(name, "rev")) {
				s->rev = number(c, name, UINT32_MAX);
			} else if (!strcmp(name, "gid")) {
				s->gid = number(c, name, UINT32_MAX);
			} else if (!strcmp(name, "priority")) {
				s->priority = number(c, name, 255);
				if (!s->priority)
					bad(c, "priority: from 1 to 255");
			} else {
				bad(c, "'%s': unknown option (msg, content, nocase, sid, rev, gid, classtype, priority)",
				    name);
			}
		}
		skip_space(c);
		if (*c->p != ';')
			bad(c, "%s: expected ';' after it", name);
		c->p++;
	}
	c->p++;
	skip_space(c);
	if (*c->p && *c->p != '\n' && *c->p != '\r')
		bad(c, "'%.20s': nothing may follow ')'", c->p);
	if (!have_msg)
		bad(c, "no msg");
	if (!have_sid)
		bad(c, "no sid");
}

static void parse_sig(struct ids *ids, struct ids_sig *s, struct cursor *c)
{
	char w[64];
	unsigned int i;

	memset(s, 0, sizeof(*s));
	s->rev = 1;
	s->gid = 1;
	s->priority = 3;
	header_word(c, w, sizeof(w), "an action");
	if (strcmp(w, "alert"))
		bad(c, "'%s': the action is alert (--mode ips drops what matches)", w);
	header_word(c, w, sizeof(w), "a protocol");
	if (!strcmp(w, "tcp"))
		s->proto = NF_PROTO_TCP;
	else if (!strcmp(w, "udp"))
		s->proto = NF_PROTO_UDP;
	else if (!strcmp(w, "icmp"))
		s->proto = NF_PROTO_ICMP;
	else if (!strcmp(w, "ip"))
		s->proto = -1;
	else
		bad(c, "'%s': the protocol is tcp, udp, icmp or ip", w);
	parse_addr(c, &s->src, &s->src_mask);
	parse_ports(c, &s->sport_lo, &s->sport_hi, &s->sport_any);
	header_word(c, w, sizeof(w), "-> or <>");
	if (!strcmp(w, "<>"))
		s->both_ways = 1;
	else if (strcmp(w, "->"))
		bad(c, "'%s': the direction is -> or <>", w);
	parse_addr(c, &s->dst, &s->dst_mask);
	parse_ports(c, &s->dport_lo, &s->dport_hi, &s->dport_any);
	skip_space(c);
	if (*c->p != '(')
		bad(c, "expected '(' and the options");
	c->p++;
	parse_options(ids, s, c);
	for (i = 0; i < ids->nsigs; i++)
		if (ids->sigs[i].sid == s->sid && ids->sigs[i].gid == s->gid)
			bad(c, "sid %u: used twice", s->sid);
}

static void ids_configure(void *ctx, const char *path)
{
	struct ids *ids = ctx;
	FILE *fp = fopen(path, "r");
	char buf[4096];
	struct cursor c = { path, 0, NULL };

	if (!fp)
		nf_usage_error("%s: %s", path, strerror(errno));
	ids->sigs = calloc(IDS_MAX_SIGS, sizeof(*ids->sigs));
	if (!ids->sigs)
		nf_fatal("out of memory");
	while (nf_config_line(fp, path, buf, sizeof(buf), &c.line)) {
		c.p = buf;
		skip_space(&c);
		if (!*c.p || *c.p == '#' || *c.p == '\n' || *c.p == '\r')
			continue;
		if (ids->nsigs == IDS_MAX_SIGS)
			bad(&c, "more than %d signatures", IDS_MAX_SIGS);
		parse_sig(ids, &ids->sigs[ids->nsigs], &c);
		ids->nsigs++;
	}
	fclose(fp);
	ac_build(ids);
	if (!ids->eve_path)
		ids->eve_path = "/run/ptnet-nf/eve.json";
}

static void ids_option(void *ctx, int val, const char *arg)
{
	struct ids *ids = ctx;

	switch (val) {
	case OPT_MODE:
		if (strcmp(arg, "ids") && strcmp(arg, "ips"))
			nf_usage_error("--mode: '%s' is not ids or ips", arg);
		ids->ips = !strcmp(arg, "ips");
		break;
	case OPT_EVE:
		ids->eve_path = arg;
		break;
	}
}

/* ---------------------------------------------------------------------- */
/* Matching and alerts                                                     */
/* ---------------------------------------------------------------------- */

static int header_way(const struct ids_sig *s, uint32_t sa, uint16_t sp,
		      uint32_t da, uint16_t dp, int has_ports)
{
	if ((sa & s->src_mask) != s->src || (da & s->dst_mask) != s->dst)
		return 0;
	if (!s->sport_any && (!has_ports || sp < s->sport_lo || sp > s->sport_hi))
		return 0;
	if (!s->dport_any && (!has_ports || dp < s->dport_lo || dp > s->dport_hi))
		return 0;
	return 1;
}

static int sig_matches(const struct ids *ids, const struct ids_sig *s,
		       const struct nf_pkt *p)
{
	int ports = p->has_ports && p->proto != NF_PROTO_ICMP;
	unsigned int i;

	if (s->proto >= 0 && s->proto != p->proto)
		return 0;
	if (!header_way(s, p->saddr, p->sport, p->daddr, p->dport, ports) &&
	    !(s->both_ways &&
	      header_way(s, p->daddr, p->dport, p->saddr, p->sport, ports)))
		return 0;
	for (i = 0; i < s->ncontents; i++)
		if (ids->pats[s->contents[i]].seen != ids->frame_no)
			return 0;
	return 1;
}

static void eve_open(struct ids *ids)
{
	if (ids->eve)
		return;
	if (!strcmp(ids->eve_path, "-")) {
		ids->eve = stdout;
		return;
	}
	ids->eve = fopen(ids->eve_path, "a");
	if (!ids->eve)
		nf_fatal("%s: %s", ids->eve_path, strerror(errno));
}

static void alert(struct ids *ids, const struct ids_sig *s,
		  const struct nf_pkt *p, enum nf_side from)
{
	struct timespec ts;
	struct tm tm;
	char when[32], a[16], b[16];
	int ports = p->has_ports && p->proto != NF_PROTO_ICMP;
	FILE *f;

	eve_open(ids);
	f = ids->eve;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(f, "{\"timestamp\":\"%s.%06ld+0000\",\"event_type\":\"alert\","
		"\"src_ip\":\"%s\",", when, ts.tv_nsec / 1000,
		nf_ip_str(p->saddr, a));
	if (ports)
		fprintf(f, "\"src_port\":%u,", p->sport);
	fprintf(f, "\"dest_ip\":\"%s\",", nf_ip_str(p->daddr, b));
	if (ports)
		fprintf(f, "\"dest_port\":%u,", p->dport);
	fprintf(f, "\"proto\":\"%s\",\"in_iface\":\"%s\",\"alert\":{"
		"\"action\":\"%s\",\"gid\":%u,\"signature_id\":%u,\"rev\":%u,"
		"\"signature\":", nf_proto_name(p->proto),
		from == NF_IN ? "in" : "out", ids->ips ? "blocked" : "allowed",
		s->gid, s->sid, s->rev);
	nf_json_string(f, s->msg);
	fprintf(f, ",\"category\":");
	nf_json_string(f, s->classtype);
	fprintf(f, ",\"severity\":%u}}\n", s->priority);
}

static enum nf_verdict ids_frame(void *ctx, enum nf_side from, uint8_t *buf,
				 unsigned int len)
{
	struct ids *ids = ctx;
	struct nf_pkt p;
	unsigned int i;
	int hit = 0;

	if (nf_parse(buf, len, &p))
		return NF_FORWARD;
	ids->inspected++;
	ids->frame_no++;
	if (ids->frame_no == UINT32_MAX) {	/* never equal to a stale mark */
		for (i = 0; i < ids->npats; i++)
			ids->pats[i].seen = UINT32_MAX;
		ids->frame_no = 0;
	}
	if (p.l4 && p.payload_len)
		ac_scan(ids, p.payload, p.payload_len);
	for (i = 0; i < ids->nsigs; i++) {
		struct ids_sig *s = &ids->sigs[i];

		if (!sig_matches(ids, s, &p))
			continue;
		s->hits++;
		ids->alerts++;
		alert(ids, s, &p, from);
		hit = 1;
	}
	if (hit && ids->ips) {
		ids->blocked++;
		return NF_DROP;
	}
	return NF_FORWARD;
}

static void ids_flush(void *ctx)
{
	struct ids *ids = ctx;

	if (ids->eve)
		fflush(ids->eve);
}

static void ids_stats(void *ctx, FILE *f)
{
	struct ids *ids = ctx;
	unsigned int i;

	fprintf(f, "\"mode\":\"%s\",\"signatures\":%u,\"inspected\":%llu,"
		"\"alerts\":%llu,\"blocked\":%llu,\"hits\":{",
		ids->ips ? "ips" : "ids", ids->nsigs,
		(unsigned long long)ids->inspected,
		(unsigned long long)ids->alerts,
		(unsigned long long)ids->blocked);
	for (i = 0; i < ids->nsigs; i++)
		fprintf(f, "%s\"%u\":%llu", i ? "," : "", ids->sigs[i].sid,
			(unsigned long long)ids->sigs[i].hits);
	fputc('}', f);
}

int main(int argc, char **argv)
{
	static struct ids ids;
	static const struct option options[] = {
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "eve", required_argument, NULL, OPT_EVE },
		{ NULL, 0, NULL, 0 },
	};
	static const struct nf_role role = {
		.name = "ids",
		.summary = "nf-ids: signature matching (Aho-Corasick), alerts as EVE JSON lines\n"
			   "Signatures (one a line, '#' comments), a Suricata subset:\n"
			   "  alert tcp|udp|icmp|ip SRC SPORT ->|<> DST DPORT (msg:\"...\";\n"
			   "        content:\"...\"; [nocase;] sid:N; [rev:N;] [gid:N;]\n"
			   "        [classtype:NAME;] [priority:N;])\n"
			   "SRC/DST: any or A.B.C.D[/N]; SPORT/DPORT: any, N or N:M;\n"
			   "content takes |41 42| hex bytes and \\\" \\\\ \\; \\| escapes.",
		.options_help =
			"  --mode ids|ips         ids (default): alert, forward all;\n"
			"                         ips: also drop what matches\n"
			"  --eve FILE             append alerts here (default\n"
			"                         /run/ptnet-nf/eve.json, - for stdout)\n",
		.default_config = "/etc/ptnet/ids.rules",
		.options = options,
		.option = ids_option,
		.configure = ids_configure,
		.frame = ids_frame,
		.stats = ids_stats,
		.flush = ids_flush,
	};

	return nf_main(argc, argv, &role, &ids);
}
