/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * The shared core of the ptnet network functions (nf-fw, nf-nat, nf-ids):
 * a bump in the wire between two netmap ports, IN (towards the ingress of a
 * chain) and OUT (towards its egress).
 *
 * nf_main() parses the common command line, opens both ports and forwards
 * both ways in batches. Each frame is shown to the role's frame callback,
 * which may rewrite it in place and returns a verdict (forward, drop, or
 * forward modified). Between ports of one memory region (same nr_mem_id)
 * the buffers are swapped (NS_BUF_CHANGED on both slots); otherwise the
 * bytes are copied. With nothing to do the loop sleeps in poll(). Counters
 * per port and the role's own are written as one JSON object to --stats
 * (a temporary file renamed over it) every --stats-interval seconds and at
 * SIGINT/SIGTERM, after which the program exits 0.
 *
 * A frame spread over several slots (NS_MOREFRAG) gets the verdict of its
 * first slot, which alone is shown to the callback.
 *
 * Also here: IPv4/TCP/UDP/ICMP header parsing, incremental checksum
 * updates (RFC 1624: HC' = ~(~HC + ~m + m')), and the small parsers the
 * roles' configuration files share.
 */
#ifndef PTNET_TOOLS_NF_H
#define PTNET_TOOLS_NF_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gen.h"

enum nf_side { NF_IN = 0, NF_OUT = 1 };

enum nf_verdict { NF_FORWARD, NF_DROP, NF_MODIFIED };

#define NF_PROTO_ICMP	1
#define NF_PROTO_TCP	6
#define NF_PROTO_UDP	17

/* An IPv4 frame's headers, as nf_parse() found them. */
struct nf_pkt {
	uint8_t *ip;			/* the IPv4 header */
	uint8_t *l4;			/* TCP/UDP/ICMP header, or NULL */
	const uint8_t *payload;		/* after the L4 header */
	unsigned int payload_len;
	unsigned int l4_len;		/* L4 header and payload */
	uint8_t proto;
	uint32_t saddr, daddr;		/* host order */
	uint16_t sport, dport;		/* host order; ICMP echo: the id both */
	int has_ports;			/* TCP, UDP or ICMP echo (request/reply) */
};

/*
 * Parse an Ethernet frame holding IPv4 (no VLAN tag). Returns 0 and fills
 * p, or -1 for anything else (or a truncated header). A non-first IP
 * fragment parses with l4 NULL and no ports.
 */
int nf_parse(uint8_t *frame, unsigned int len, struct nf_pkt *p);

/* Store a 16/32-bit value in network order. */
void nf_put16(uint8_t *p, uint16_t v);
void nf_put32(uint8_t *p, uint32_t v);

/* Checksum field (network order, in place) after a 16/32-bit word changed. */
void nf_csum_update16(uint8_t *csum, uint16_t old, uint16_t new);
void nf_csum_update32(uint8_t *csum, uint32_t old, uint32_t new);
/* The Internet checksum of len bytes plus sum (an unfolded partial sum). */
uint16_t nf_csum(const uint8_t *data, unsigned int len, uint32_t sum);

/* What a role plugs into the core. Callbacks may be NULL except frame. */
struct nf_role {
	const char *name;		/* "fw": the program is nf-fw */
	const char *summary;		/* the first lines of --help */
	const char *options_help;	/* the role's option lines */
	const char *default_config;	/* -c default, or NULL */
	const struct option *options;	/* the role's long options, 0-ended */
	/* A role option (its val, its argument); returns 0, or exits 2. */
	void (*option)(void *ctx, int val, const char *arg);
	/* Read -c (path, never NULL when default_config is set). */
	void (*configure)(void *ctx, const char *config);
	enum nf_verdict (*frame)(void *ctx, enum nf_side from, uint8_t *buf,
				 unsigned int len);
	/* Called at least once a second, with the monotonic time. */
	void (*tick)(void *ctx, double now);
	/* The members of the role's stats object ("k":v,...), no braces. */
	void (*stats)(void *ctx, FILE *f);
	/* After the batch: flush what the frame callbacks buffered. */
	void (*flush)(void *ctx);
};

/* The monotonic clock, seconds; nf_now is refreshed before each batch. */
double nf_clock(void);
extern double nf_now;
extern const char *nf_prog;

int nf_main(int argc, char **argv, const struct nf_role *role, void *ctx);

/* A bad command line (2) and a failure (1), one line on stderr. */
#define nf_usage_error(...)	gen_die(2, nf_prog, "--help", __VA_ARGS__)
#define nf_fatal(...)		gen_die(1, nf_prog, NULL, __VA_ARGS__)

/* A configuration file error: "PROG: error: FILE:LINE: ...", exit 2. */
void nf_config_error(const char *file, unsigned int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));

/*
 * The next line of configuration file fp (named file) into buf, or NULL at
 * its end; *line counts the lines read. A line that does not fit buf (with
 * its newline) is a configuration error.
 */
char *nf_config_line(FILE *fp, const char *file, char *buf, size_t size,
		     unsigned int *line);

/* Parsers; each returns 0, or -1 when s is not of the form. */
int nf_parse_u32(const char *s, uint32_t max, uint32_t *v);
int nf_parse_ipv4(const char *s, uint32_t *addr);
/* "A.B.C.D" or "A.B.C.D/N"; the address is masked to the prefix. */
int nf_parse_prefix(const char *s, uint32_t *addr, uint32_t *mask);
/* "N" or "N-M", within 0..65535, N <= M. */
int nf_parse_port_range(const char *s, uint16_t *lo, uint16_t *hi);

/* Split line into whitespace-separated words (comments from '#' dropped). */
#define NF_MAX_WORDS	32
unsigned int nf_split(char *line, char **words, unsigned int max);

/* Text forms. */
const char *nf_ip_str(uint32_t addr, char buf[16]);
const char *nf_proto_name(uint8_t proto);	/* "TCP", "UDP", "ICMP", "IP" */
void nf_json_string(FILE *f, const char *s);

#endif /* PTNET_TOOLS_NF_H */
