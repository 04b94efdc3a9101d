// SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause
/*
 * nf-fw: a stateless firewall between two netmap ports, with ordered rules.
 *
 *   nf-fw -i IN -o OUT [-c RULES] [--stats FILE] [--stats-interval S]
 *
 * The rules file (default /etc/ptnet/fw.rules) holds one statement a line;
 * '#' starts a comment. The rules are tried in order on each IPv4 frame,
 * in both directions, and the first that matches decides:
 *
 *   accept|drop [in|out] [proto tcp|udp|icmp|any] [from PREFIX] [to PREFIX]
 *               [sport RANGE] [dport RANGE]
 *   policy accept|drop     the verdict when no rule matches (default accept)
 *   nonip accept|drop      frames that are not IPv4: ARP, IPv6, ... (accept)
 *
 *   in, out   only frames arriving on the IN port (or on the OUT port)
 *   PREFIX    A.B.C.D or A.B.C.D/N, or any
 *   RANGE     N or N-M (0-65535); needs proto tcp or udp
 *
 * For example:
 *   policy accept
 *   drop proto tcp dport 23
 *   drop in proto udp from 10.0.0.0/8 to 192.0.2.0/24 dport 5000-5999
 *   accept proto icmp
 *
 * A non-first IP fragment has no ports: rules with sport or dport never
 * match it. A bad line stops the program with exit status 2 and one line
 * "nf-fw: error: FILE:LINE: ..." naming the bad word.
 *
 * Stats (the "fw" member of --stats): {"rules": N, "accepted": N,
 * "dropped": N, "policy": N (frames decided by the policy), "nonip": N,
 * "hits": [N, ...] (frames matched by each rule, in order)}.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nf.h"

#define FW_MAX_RULES	4096

struct fw_rule {
	int drop;
	int side;			/* -1 both, else NF_IN or NF_OUT */
	int proto;			/* -1 any */
	uint32_t src, src_mask, dst, dst_mask;
	uint16_t sport_lo, sport_hi, dport_lo, dport_hi;
	int ports;			/* has a sport or dport condition */
	uint64_t hits;
};

struct fw {
	struct fw_rule *rules;
	unsigned int nrules;
	int policy_drop, nonip_drop;
	uint64_t accepted, dropped, policy, nonip;
};

static int parse_verdict(const char *w, int *drop)
{
	if (!strcmp(w, "accept"))
		*drop = 0;
	else if (!strcmp(w, "drop"))
		*drop = 1;
	else
		return -1;
	return 0;
}

static void parse_rule(struct fw_rule *r, char **w, unsigned int n,
		       const char *file, unsigned int line)
{
	unsigned int i = 1;

	memset(r, 0, sizeof(*r));
	r->side = -1;
	r->proto = -1;
	r->sport_hi = r->dport_hi = 65535;
	parse_verdict(w[0], &r->drop);
	if (i < n && (!strcmp(w[i], "in") || !strcmp(w[i], "out"))) {
		r->side = !strcmp(w[i], "in") ? NF_IN : NF_OUT;
		i++;
	}
	while (i < n) {
		const char *key = w[i], *val;

		if (i + 1 == n)
			nf_config_error(file, line, "'%s' needs a value", key);
		val = w[i + 1];
		if (!strcmp(key, "proto")) {
			if (!strcmp(val, "tcp"))
				r->proto = NF_PROTO_TCP;
			else if (!strcmp(val, "udp"))
				r->proto = NF_PROTO_UDP;
			else if (!strcmp(val, "icmp"))
				r->proto = NF_PROTO_ICMP;
			else if (!strcmp(val, "any"))
				r->proto = -1;
			else
				nf_config_error(file, line, "'%s': proto is tcp, udp, icmp or any", val);
		} else if (!strcmp(key, "from") || !strcmp(key, "to")) {
			uint32_t *a = key[0] == 'f' ? &r->src : &r->dst;
			uint32_t *m = key[0] == 'f' ? &r->src_mask : &r->dst_mask;

			if (!strcmp(val, "any"))
				*a = *m = 0;
			else if (nf_parse_prefix(val, a, m))
				nf_config_error(file, line, "'%s': not A.B.C.D[/N] or any", val);
		} else if (!strcmp(key, "sport") || !strcmp(key, "dport")) {
			uint16_t *lo = key[0] == 's' ? &r->sport_lo : &r->dport_lo;
			uint16_t *hi = key[0] == 's' ? &r->sport_hi : &r->dport_hi;

			if (nf_parse_port_range(val, lo, hi))
				nf_config_error(file, line, "'%s': a port N or a range N-M within 0-65535", val);
			r->ports = 1;
		} else {
			nf_config_error(file, line,
					"'%s': expected proto, from, to, sport or dport", key);
		}
		i += 2;
	}
	if (r->ports && r->proto != NF_PROTO_TCP && r->proto != NF_PROTO_UDP)
		nf_config_error(file, line, "'%s': sport and dport need proto tcp or udp", w[0]);
}

static void fw_configure(void *ctx, const char *path)
{
	struct fw *fw = ctx;
	FILE *fp = fopen(path, "r");
	char buf[1024], *w[NF_MAX_WORDS];
	unsigned int line = 0, n;
	int policy_seen = 0;

	if (!fp)
		nf_usage_error("%s: %s", path, strerror(errno));
	fw->rules = calloc(FW_MAX_RULES, sizeof(*fw->rules));
	if (!fw->rules)
		nf_fatal("out of memory");
	while (nf_config_line(fp, path, buf, sizeof(buf), &line)) {
		n = nf_split(buf, w, NF_MAX_WORDS);
		if (!n)
			continue;
		if (n > NF_MAX_WORDS)
			nf_config_error(path, line, "too many words");
		if (!strcmp(w[0], "policy") || !strcmp(w[0], "nonip")) {
			int drop;

			if (n != 2 || parse_verdict(w[1], &drop))
				nf_config_error(path, line, "'%s': %s accept|drop",
						n > 1 ? w[1] : w[0], w[0]);
			if (w[0][0] == 'p') {
				if (policy_seen++)
					nf_config_error(path, line, "'policy': a second policy");
				fw->policy_drop = drop;
			} else {
				fw->nonip_drop = drop;
			}
			continue;
		}
		if (strcmp(w[0], "accept") && strcmp(w[0], "drop"))
			nf_config_error(path, line,
					"'%s': expected accept, drop, policy or nonip", w[0]);
		if (fw->nrules == FW_MAX_RULES)
			nf_config_error(path, line, "more than %d rules", FW_MAX_RULES);
		parse_rule(&fw->rules[fw->nrules++], w, n, path, line);
	}
	fclose(fp);
}

static int matches(const struct fw_rule *r, enum nf_side from,
		   const struct nf_pkt *p)
{
	if (r->side >= 0 && r->side != (int)from)
		return 0;
	if (r->proto >= 0 && r->proto != p->proto)
		return 0;
	if ((p->saddr & r->src_mask) != r->src ||
	    (p->daddr & r->dst_mask) != r->dst)
		return 0;
	if (r->ports)
		return p->has_ports && p->sport >= r->sport_lo &&
		       p->sport <= r->sport_hi && p->dport >= r->dport_lo &&
		       p->dport <= r->dport_hi;
	return 1;
}

static enum nf_verdict fw_frame(void *ctx, enum nf_side from, uint8_t *buf,
				unsigned int len)
{
	struct fw *fw = ctx;
	struct nf_pkt p;
	unsigned int i;
	int drop;

	if (nf_parse(buf, len, &p)) {
		fw->nonip++;
		drop = fw->nonip_drop;
	} else {
		for (i = 0; i < fw->nrules; i++)
			if (matches(&fw->rules[i], from, &p))
				break;
		if (i < fw->nrules) {
			fw->rules[i].hits++;
			drop = fw->rules[i].drop;
		} else {
			fw->policy++;
			drop = fw->policy_drop;
		}
	}
	if (drop) {
		fw->dropped++;
		return NF_DROP;
	}
	fw->accepted++;
	return NF_FORWARD;
}

static void fw_stats(void *ctx, FILE *f)
{
	struct fw *fw = ctx;
	unsigned int i;

	fprintf(f, "\"rules\":%u,\"accepted\":%llu,\"dropped\":%llu,"
		"\"policy\":%llu,\"nonip\":%llu,\"hits\":[", fw->nrules,
		(unsigned long long)fw->accepted,
		(unsigned long long)fw->dropped, (unsigned long long)fw->policy,
		(unsigned long long)fw->nonip);
	for (i = 0; i < fw->nrules; i++)
		fprintf(f, "%s%llu", i ? "," : "",
			(unsigned long long)fw->rules[i].hits);
	fputc(']', f);
}

int main(int argc, char **argv)
{
	static struct fw fw;
	static const struct nf_role role = {
		.name = "fw",
		.summary = "nf-fw: a firewall with ordered rules between two netmap ports\n"
			   "Rules (one a line, first match wins, '#' comments):\n"
			   "  accept|drop [in|out] [proto tcp|udp|icmp|any] [from PREFIX]\n"
			   "              [to PREFIX] [sport N[-M]] [dport N[-M]]\n"
			   "  policy accept|drop    when no rule matches (default accept)\n"
			   "  nonip accept|drop     frames that are not IPv4 (default accept)\n"
			   "PREFIX is A.B.C.D[/N] or any; ports need proto tcp or udp.",
		.default_config = "/etc/ptnet/fw.rules",
		.configure = fw_configure,
		.frame = fw_frame,
		.stats = fw_stats,
	};

	return nf_main(argc, argv, &role, &fw);
}
