// SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause
/*
 * nf-nat: source NAT between two netmap ports. IN is the inside, OUT the
 * outside.
 *
 *   nf-nat -i IN -o OUT [-c CONF] [--outside A.B.C.D] [--ports LO-HI]
 *          [--timeout S] [--stats FILE] [--stats-interval S]
 *
 * The configuration file (default /etc/ptnet/nat.conf; options given on
 * the command line win over it), one setting a line, '#' comments:
 *
 *   outside A.B.C.D     the outside address (required)
 *   ports LO-HI         the outside ports handed out (default 1024-65535)
 *   timeout S           seconds an idle mapping lives (default 60)
 *
 * A TCP, UDP or ICMP echo frame from IN gets the outside address as its
 * source, and a source port (for ICMP: the echo identifier) from the range:
 * one mapping per inside (protocol, address, port), the same for every
 * destination (endpoint-independent), refreshed by traffic both ways and
 * dropped after `timeout` seconds without any. A frame from OUT to the
 * outside address and a mapped port is translated back to the inside
 * address and port. The IPv4 header checksum and the TCP/UDP/ICMP checksum
 * are updated incrementally (RFC 1624); a UDP checksum of 0 (none) stays 0.
 *
 * Dropped: frames from IN that cannot be translated (other IP protocols,
 * non-first fragments: they would leak the inside address), new flows when
 * every port of the range is taken, and frames from OUT to the outside
 * address without a mapping. Anything else (not IPv4, or from OUT to
 * another address) is forwarded as it is.
 *
 * Stats (the "nat" member of --stats): {"outside": "A.B.C.D", "ports":
 * "LO-HI", "timeout_s": S, "translations": N (frames from IN rewritten),
 * "reverse_translations": N (frames from OUT rewritten), "active_mappings":
 * N, "mappings_created": N, "mappings_expired": N, "port_exhaustion_drops":
 * N, "no_mapping_drops": N, "untranslatable_drops": N}.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nf.h"

enum { OPT_OUTSIDE = 2000, OPT_PORTS, OPT_TIMEOUT };

#define NAT_NONE	UINT32_MAX

struct nat_map {
	uint32_t in_addr;
	uint16_t in_port;
	uint8_t proto;
	uint8_t used;
	uint32_t next;			/* the next in the hash chain */
	double last;			/* last use, nf_now */
};

struct nat {
	uint32_t outside;
	uint16_t lo, hi;
	uint32_t timeout;
	int outside_set, ports_set, timeout_set;	/* from the command line */
	uint32_t nports;
	struct nat_map *maps;		/* [proto slot][port - lo] */
	uint32_t *heads, mask;		/* hash of inside (proto, addr, port) */
	uint32_t cursor[3];
	uint64_t translations, reverse, active, created, expired;
	uint64_t exhausted, no_mapping, untranslatable;
};

static int proto_slot(uint8_t proto)
{
	return proto == NF_PROTO_TCP ? 0 : proto == NF_PROTO_UDP ? 1 : 2;
}

static uint32_t hash(const struct nat *nat, uint8_t proto, uint32_t addr,
		     uint16_t port)
{
	uint32_t h = addr * 0x9e3779b1u ^ ((uint32_t)port << 8 | proto);

	h ^= h >> 15;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	return h & nat->mask;
}

/* ---------------------------------------------------------------------- */
/* Configuration                                                           */
/* ---------------------------------------------------------------------- */

static void nat_option(void *ctx, int val, const char *arg)
{
	struct nat *nat = ctx;

	switch (val) {
	case OPT_OUTSIDE:
		if (nf_parse_ipv4(arg, &nat->outside))
			nf_usage_error("--outside: '%s' is not an IPv4 address", arg);
		nat->outside_set = 1;
		break;
	case OPT_PORTS:
		if (nf_parse_port_range(arg, &nat->lo, &nat->hi) || !nat->lo)
			nf_usage_error("--ports: '%s' is not a range LO-HI within 1-65535", arg);
		nat->ports_set = 1;
		break;
	case OPT_TIMEOUT:
		if (nf_parse_u32(arg, 86400, &nat->timeout) || !nat->timeout)
			nf_usage_error("--timeout: '%s' is not a number of seconds from 1 to 86400", arg);
		nat->timeout_set = 1;
		break;
	}
}

static void nat_configure(void *ctx, const char *path)
{
	struct nat *nat = ctx;
	FILE *fp = fopen(path, "r");
	char buf[512], *w[NF_MAX_WORDS];
	unsigned int line = 0, n;
	int have_outside = nat->outside_set;
	uint32_t size, i;

	if (!fp && !(errno == ENOENT && nat->outside_set))
		nf_usage_error("%s: %s", path, strerror(errno));
	if (!nat->ports_set) {
		nat->lo = 1024;
		nat->hi = 65535;
	}
	if (!nat->timeout_set)
		nat->timeout = 60;
	while (fp && nf_config_line(fp, path, buf, sizeof(buf), &line)) {
		uint32_t v = 0, a = 0;
		uint16_t lo, hi;

		n = nf_split(buf, w, NF_MAX_WORDS);
		if (!n)
			continue;
		if (n != 2)
			nf_config_error(path, line, "'%s': expected one value after %s",
					n > 2 ? w[2] : w[0], w[0]);
		if (!strcmp(w[0], "outside")) {
			if (nf_parse_ipv4(w[1], &a))
				nf_config_error(path, line, "'%s': not an IPv4 address", w[1]);
			if (!nat->outside_set)
				nat->outside = a;
			have_outside = 1;
		} else if (!strcmp(w[0], "ports")) {
			if (nf_parse_port_range(w[1], &lo, &hi) || !lo)
				nf_config_error(path, line, "'%s': a range LO-HI within 1-65535", w[1]);
			if (!nat->ports_set) {
				nat->lo = lo;
				nat->hi = hi;
			}
		} else if (!strcmp(w[0], "timeout")) {
			if (nf_parse_u32(w[1], 86400, &v) || !v)
				nf_config_error(path, line, "'%s': seconds from 1 to 86400", w[1]);
			if (!nat->timeout_set)
				nat->timeout = v;
		} else {
			nf_config_error(path, line, "'%s': expected outside, ports or timeout", w[0]);
		}
	}
	if (fp)
		fclose(fp);
	if (!have_outside)
		nf_config_error(path, line, "no outside address (outside A.B.C.D)");
	nat->nports = (uint32_t)nat->hi - nat->lo + 1;
	for (size = 1; size < 3 * nat->nports; size <<= 1)
		;
	nat->mask = size - 1;
	nat->maps = calloc(3 * (size_t)nat->nports, sizeof(*nat->maps));
	nat->heads = malloc(size * sizeof(*nat->heads));
	if (!nat->maps || !nat->heads)
		nf_fatal("out of memory");
	for (i = 0; i < size; i++)
		nat->heads[i] = NAT_NONE;
}

/* ---------------------------------------------------------------------- */
/* Mappings                                                                */
/* ---------------------------------------------------------------------- */

static uint32_t map_find(struct nat *nat, uint8_t proto, uint32_t addr,
			 uint16_t port)
{
	uint32_t k = nat->heads[hash(nat, proto, addr, port)];

	while (k != NAT_NONE) {
		const struct nat_map *m = &nat->maps[k];

		if (m->proto == proto && m->in_addr == addr && m->in_port == port)
			return k;
		k = m->next;
	}
	return NAT_NONE;
}

/* A new mapping for (proto, addr, port), or NAT_NONE when none is free. */
static uint32_t map_new(struct nat *nat, uint8_t proto, uint32_t addr,
			uint16_t port)
{
	int s = proto_slot(proto);
	uint32_t i, base = (uint32_t)s * nat->nports;

	for (i = 0; i < nat->nports; i++) {
		uint32_t p = (nat->cursor[s] + i) % nat->nports;
		struct nat_map *m = &nat->maps[base + p];
		uint32_t *head;

		if (m->used)
			continue;
		head = &nat->heads[hash(nat, proto, addr, port)];
		*m = (struct nat_map){ addr, port, proto, 1, *head, nf_now };
		*head = base + p;
		nat->cursor[s] = (p + 1) % nat->nports;
		nat->active++;
		nat->created++;
		return base + p;
	}
	return NAT_NONE;
}

static void map_free(struct nat *nat, uint32_t k)
{
	struct nat_map *m = &nat->maps[k];
	uint32_t *link = &nat->heads[hash(nat, m->proto, m->in_addr, m->in_port)];

	while (*link != k)
		link = &nat->maps[*link].next;
	*link = m->next;
	m->used = 0;
	nat->active--;
	nat->expired++;
}

static void nat_tick(void *ctx, double now)
{
	struct nat *nat = ctx;
	uint32_t k;

	for (k = 0; k < 3 * nat->nports; k++)
		if (nat->maps[k].used && now - nat->maps[k].last > nat->timeout)
			map_free(nat, k);
}

/* ---------------------------------------------------------------------- */
/* Translation                                                             */
/* ---------------------------------------------------------------------- */

/*
 * Rewrite the address at ip+addr_ofs and the port (ICMP: the identifier)
 * of p, updating the checksums.
 */
static void rewrite(struct nf_pkt *p, unsigned int addr_ofs, uint32_t old_addr,
		    uint32_t new_addr, int src_port, uint16_t old_port,
		    uint16_t new_port)
{
	uint8_t *l4 = p->l4;

	nf_put32(p->ip + addr_ofs, new_addr);
	nf_csum_update32(p->ip + 10, old_addr, new_addr);
	switch (p->proto) {
	case NF_PROTO_TCP:
		nf_put16(l4 + (src_port ? 0 : 2), new_port);
		nf_csum_update32(l4 + 16, old_addr, new_addr);
		nf_csum_update16(l4 + 16, old_port, new_port);
		break;
	case NF_PROTO_UDP:
		nf_put16(l4 + (src_port ? 0 : 2), new_port);
		if (l4[6] || l4[7]) {
			nf_csum_update32(l4 + 6, old_addr, new_addr);
			nf_csum_update16(l4 + 6, old_port, new_port);
			if (!l4[6] && !l4[7])
				nf_put16(l4 + 6, 0xffff);
		}
		break;
	default:
		nf_put16(l4 + 4, new_port);
		nf_csum_update16(l4 + 2, old_port, new_port);
		break;
	}
}

static enum nf_verdict outbound(struct nat *nat, struct nf_pkt *p)
{
	uint32_t k;

	if (!p->has_ports) {
		nat->untranslatable++;
		return NF_DROP;
	}
	k = map_find(nat, p->proto, p->saddr, p->sport);
	if (k == NAT_NONE)
		k = map_new(nat, p->proto, p->saddr, p->sport);
	if (k == NAT_NONE) {
		nat->exhausted++;
		return NF_DROP;
	}
	nat->maps[k].last = nf_now;
	rewrite(p, 12, p->saddr, nat->outside, 1, p->sport,
		(uint16_t)(nat->lo + k % nat->nports));
	nat->translations++;
	return NF_MODIFIED;
}

static enum nf_verdict inbound(struct nat *nat, struct nf_pkt *p)
{
	struct nat_map *m;

	if (p->daddr != nat->outside)
		return NF_FORWARD;
	if (!p->has_ports || p->dport < nat->lo || p->dport > nat->hi) {
		nat->no_mapping++;
		return NF_DROP;
	}
	m = &nat->maps[(uint32_t)proto_slot(p->proto) * nat->nports +
		       (p->dport - nat->lo)];
	if (!m->used) {
		nat->no_mapping++;
		return NF_DROP;
	}
	m->last = nf_now;
	rewrite(p, 16, p->daddr, m->in_addr, 0, p->dport, m->in_port);
	nat->reverse++;
	return NF_MODIFIED;
}

static enum nf_verdict nat_frame(void *ctx, enum nf_side from, uint8_t *buf,
				 unsigned int len)
{
	struct nat *nat = ctx;
	struct nf_pkt p;

	if (nf_parse(buf, len, &p))
		return NF_FORWARD;
	return from == NF_IN ? outbound(nat, &p) : inbound(nat, &p);
}

static void nat_stats(void *ctx, FILE *f)
{
	struct nat *nat = ctx;
	char a[16];

	fprintf(f, "\"outside\":\"%s\",\"ports\":\"%u-%u\",\"timeout_s\":%u,"
		"\"translations\":%llu,\"reverse_translations\":%llu,"
		"\"active_mappings\":%llu,\"mappings_created\":%llu,"
		"\"mappings_expired\":%llu,\"port_exhaustion_drops\":%llu,"
		"\"no_mapping_drops\":%llu,\"untranslatable_drops\":%llu",
		nf_ip_str(nat->outside, a), nat->lo, nat->hi, nat->timeout,
		(unsigned long long)nat->translations,
		(unsigned long long)nat->reverse,
		(unsigned long long)nat->active,
		(unsigned long long)nat->created,
		(unsigned long long)nat->expired,
		(unsigned long long)nat->exhausted,
		(unsigned long long)nat->no_mapping,
		(unsigned long long)nat->untranslatable);
}

int main(int argc, char **argv)
{
	static struct nat nat;
	static const struct option options[] = {
		{ "outside", required_argument, NULL, OPT_OUTSIDE },
		{ "ports", required_argument, NULL, OPT_PORTS },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ NULL, 0, NULL, 0 },
	};
	static const struct nf_role role = {
		.name = "nat",
		.summary = "nf-nat: source NAT of the IN side's flows to an outside address\n"
			   "Configuration (one setting a line, '#' comments):\n"
			   "  outside A.B.C.D   the outside address (required)\n"
			   "  ports LO-HI       outside ports to hand out (default 1024-65535)\n"
			   "  timeout S         seconds an idle mapping lives (default 60)",
		.options_help =
			"  --outside A.B.C.D      the outside address (over the file's)\n"
			"  --ports LO-HI          the port range (over the file's)\n"
			"  --timeout S            the idle timeout (over the file's)\n",
		.default_config = "/etc/ptnet/nat.conf",
		.options = options,
		.option = nat_option,
		.configure = nat_configure,
		.frame = nat_frame,
		.tick = nat_tick,
		.stats = nat_stats,
	};

	return nf_main(argc, argv, &role, &nat);
}
