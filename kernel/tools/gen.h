/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * ptnet traffic generators: what pkt-gen (netmap) and afpacket-gen
 * (AF_PACKET) share: the command line, the frames, their verification,
 * the clock, the rate limiter and the final report. The error line
 * (gen_die) serves every tool of this directory.
 *
 * Frame layout (offsets in bytes, integers big-endian):
 *   0  Ethernet: dst MAC, src MAC, type 0x0800
 *  14  IPv4, 20 bytes, UDP, header checksum set
 *  34  UDP, checksum 0
 *  42  magic "PTNG"
 *  46  sequence number, u64, from 0 in each stream
 *  54  stream id, u16 (the sending thread), or GEN_STREAM_NONE in an
 *      unnumbered frame (sequence 0): pkt-gen tx numbers its frames only
 *      with --verify, so that by default it writes a buffer once
 *  56  pattern: byte k of the frame is gen_pattern(k), up to the end
 */
#ifndef PTNET_TOOLS_GEN_H
#define PTNET_TOOLS_GEN_H

#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define GEN_MAGIC		0x50544e47u	/* "PTNG" */
#define GEN_OFS_MAGIC		42
#define GEN_OFS_SEQ		46
#define GEN_OFS_STREAM		54
#define GEN_HDR_LEN		56	/* everything before the pattern */
#define GEN_MIN_LEN		60	/* Ethernet minimum without the FCS */
#define GEN_MAX_LEN		65535
#define GEN_MAX_THREADS		64
#define GEN_FRAMING		24	/* preamble, SFD, IFG and FCS bytes */
#define GEN_STREAM_NONE		0xffff	/* an unnumbered frame */

enum gen_role { GEN_TX, GEN_RX, GEN_PING, GEN_PONG };

struct gen_opts {
	const char *prog;
	const char *port;		/* -i */
	enum gen_role role;		/* -f */
	unsigned int len;		/* -l: frame length without the FCS */
	uint64_t count;			/* -n: 0 is unlimited */
	unsigned int burst;		/* -b */
	unsigned int wait;		/* -w: seconds before starting */
	double rate;			/* -R: packets per second, 0 unlimited */
	int normalize;			/* cleared by -N */
	unsigned int threads;		/* -p */
	int cpu;			/* -a: first CPU, or -1 */
	struct in_addr src_ip, dst_ip;	/* -s, -d */
	uint16_t src_port, dst_port;
	uint8_t src_mac[6], dst_mac[6];	/* -S, -D */
	int src_mac_set;
	int verify;			/* --verify */
	int json;			/* --json */
	double idle;			/* --idle: rx end after this much quiet */
	double timeout;			/* --timeout: overall limit, 0 none */
	int verbose;			/* -v */
	int busy;			/* --busy-wait: sync ioctls, no poll */
	int loops;			/* the tool has both loop styles */
};

/* What one thread (or the whole run) did. */
struct gen_stats {
	uint64_t packets;
	uint64_t bytes;
	uint64_t events;		/* system calls that moved packets */
	uint64_t errors;		/* --verify failures, ping timeouts */
	uint64_t lost;			/* sequence gaps seen by --verify */
	double tic, toc;		/* first and last activity, gen_now() */
	double rtt_min, rtt_max, rtt_sum;	/* ping, seconds */
	uint64_t rtt_count;
};

/* Sequence tracking of a receiver, one expected number per stream. */
struct gen_checker {
	uint64_t next[GEN_MAX_THREADS];
};

/* The tool-specific part of the command line. */
struct gen_tool {
	const char *name;
	const char *port_help;		/* what -i takes, one line */
	unsigned int max_threads;
	const char *extra_help;		/* more usage lines, or NULL */
	int loops;			/* takes --busy-wait, reports its loop */
};

struct nm_port;

extern volatile sig_atomic_t gen_stop;	/* set by SIGINT and SIGTERM */

/*
 * The one line a tool prints before it exits with status: "PROG: error: "
 * and the message; for a bad command line (help set to the tool's help
 * option) the line ends with " (see PROG HELP)".
 */
static inline void __attribute__((format(printf, 4, 5), noreturn))
gen_die(int status, const char *prog, const char *help, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: error: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (help)
		fprintf(stderr, " (see %s %s)\n", prog, help);
	else
		fputc('\n', stderr);
	exit(status);
}

/* A bad command line (exit status 2) and a failure (1) of a generator. */
#define gen_usage_error(o, ...)	gen_die(2, (o)->prog, "-h", __VA_ARGS__)
#define gen_fatal(o, ...)	gen_die(1, (o)->prog, NULL, __VA_ARGS__)

void gen_parse_args(int argc, char **argv, const struct gen_tool *tool,
		    struct gen_opts *o);
void gen_install_signals(void);
void gen_pin_cpu(const struct gen_opts *o, unsigned int thread);

double gen_now(void);
void gen_sleep(double seconds);

/* The frame template (gen_template_init once, before any thread). */
void gen_template_init(const struct gen_opts *o);
void gen_fill(uint8_t *dst, unsigned int ofs, unsigned int len,
	      uint64_t seq, uint16_t stream);
/* The same bytes, unnumbered (GEN_STREAM_NONE), and a frame's number. */
void gen_fill_plain(uint8_t *dst, unsigned int ofs, unsigned int len);
void gen_number(uint8_t *frame, uint64_t seq, uint16_t stream);
void gen_swap_addresses(uint8_t *frame);

/* Frame checks; both return 0 when fine. */
int gen_frame_seq(const uint8_t *frame, unsigned int len, uint64_t *seq,
		  uint16_t *stream);
int gen_check_fragment(const uint8_t *frag, unsigned int ofs,
		       unsigned int len);
int gen_check_length(const uint8_t *frame, unsigned int total);
void gen_check_seq(struct gen_checker *c, struct gen_stats *st,
		   uint64_t seq, uint16_t stream);

/* Packets a rate-limited sender may send now (UINT64_MAX if unlimited). */
uint64_t gen_rate_allowance(double rate, double t0, uint64_t sent);
/*
 * A sender's turn, started at t0 with seq packets sent at rate packets per
 * second (0: no limit): -1 once --timeout has passed; 0 when the next packet
 * is not due yet, after sleeping towards it for at most nap seconds; else 1,
 * with the packets it may send now in *budget (unless budget is NULL).
 */
int gen_pace(const struct gen_opts *o, double rate, double t0, uint64_t seq,
	     double nap, uint64_t *budget);
/*
 * After a netmap sender's last frame: sync tx while completions progress
 * (a pipe or VALE receiver frees slots at its own syncs), giving up after
 * linger seconds without progress. Returns the tx slots still pending, or
 * sets *err to what the sync said.
 */
uint64_t gen_tx_drain(const struct nm_port *p, double linger, const char **err);

void gen_stats_merge(struct gen_stats *all, const struct gen_stats *one);
void gen_stats_rtt(struct gen_stats *st, double rtt);
/* Account one ping round: its RTT when answered, a loss otherwise. */
void gen_ping_outcome(struct gen_stats *st, int answered, double sent_at);
/* Sleep out -w SECONDS, unless interrupted. */
void gen_wait_start(const struct gen_opts *o);
void gen_report(const struct gen_opts *o, const struct gen_stats *st);
int gen_exit_code(const struct gen_opts *o, const struct gen_stats *st);

#endif /* PTNET_TOOLS_GEN_H */
