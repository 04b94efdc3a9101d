// SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause
/*
 * afpacket-gen: the "standard OS mechanism" baseline for the benchmarks.
 *
 * The same command line, frames and report as pkt-gen, on a Linux network
 * interface through an AF_PACKET raw socket bound to it for IPv4 frames
 * (ETH_P_IP, so the interface's IPv6 chatter is not seen). The baseline is
 * the plain path: one sendto() per frame on tx, one recvfrom() per frame
 * on rx; no PACKET_MMAP rings, no sendmmsg()/recvmmsg(), no qdisc bypass.
 * The socket is blocking for sends (a full socket buffer waits, SEND_WAIT_US
 * at a time), and the receive buffer is raised to RCVBUF_BYTES. One thread
 * (-p 1).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <math.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "gen.h"

#define SLICE_MS		100
#define RCVBUF_BYTES		(4 << 20)
#define SEND_WAIT_US		100000	/* a blocked send looks up this often */

struct sock {
	const struct gen_opts *o;
	int fd;
	struct sockaddr_ll addr;	/* the interface, for sendto() */
	struct gen_stats st;
	struct gen_checker checker;
	uint8_t buf[GEN_MAX_LEN + 1];
};

static const struct gen_tool tool = {
	.name = "afpacket-gen",
	.port_help = "the network interface (for example eth0)",
	.max_threads = 1,
	.extra_help = NULL,
};

static void open_socket(struct gen_opts *o, struct sock *s)
{
	struct ifreq ifr;
	int size = RCVBUF_BYTES;
	struct timeval send_wait = { .tv_sec = 0, .tv_usec = SEND_WAIT_US };
	uint16_t proto;

	if (strlen(o->port) >= IFNAMSIZ)
		gen_usage_error(o, "-i: interface name '%s' too long", o->port);
	s->o = o;
	/*
	 * A pure sender opens its socket with protocol 0: bound to ETH_P_IP it
	 * would also be handed a copy of every frame it sends (PACKET_OUTGOING),
	 * doubling the per-frame work of the baseline for nothing.
	 */
	proto = o->role == GEN_TX ? 0 : htons(ETH_P_IP);
	s->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, proto);
	if (s->fd < 0)
		gen_fatal(o, "cannot open an AF_PACKET socket: %s", strerror(errno));
	memset(&s->addr, 0, sizeof(s->addr));
	s->addr.sll_family = AF_PACKET;
	s->addr.sll_protocol = proto;
	s->addr.sll_ifindex = (int)if_nametoindex(o->port);
	if (!s->addr.sll_ifindex)
		gen_fatal(o, "no interface %s: %s", o->port, strerror(errno));
	if (bind(s->fd, (struct sockaddr *)&s->addr, sizeof(s->addr)) < 0)
		gen_fatal(o, "cannot bind to %s: %s", o->port, strerror(errno));
	/* Frames we send are IPv4, whatever the socket listens to. */
	s->addr.sll_protocol = htons(ETH_P_IP);
	if (setsockopt(s->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	/*
	 * A send blocks while the socket buffer is full, which lasts for ever
	 * on a device whose queue never drains: wake up now and then (EAGAIN)
	 * so that --timeout and signals can end the run.
	 */
	if (setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &send_wait,
		       sizeof(send_wait)) < 0)
		gen_fatal(o, "SO_SNDTIMEO: %s", strerror(errno));
	if (!o->src_mac_set) {
		memset(&ifr, 0, sizeof(ifr));
		memcpy(ifr.ifr_name, o->port, strlen(o->port));
		if (ioctl(s->fd, SIOCGIFHWADDR, &ifr) == 0)
			memcpy(o->src_mac, ifr.ifr_hwaddr.sa_data, 6);
	}
}

/* When --timeout ends a run that started at start; 0: never. */
static double timeout_at(const struct gen_opts *o, double start)
{
	return o->timeout ? start + o->timeout : 0;
}

/*
 * Send one frame, waiting for room in the socket or the device's queue
 * (ENOBUFS: the qdisc dropped it); -1 once a signal or give_up (a
 * gen_now() time, 0 for never: --timeout) says stop.
 */
static int send_frame(struct sock *s, const uint8_t *f, unsigned int len,
		      double give_up)
{
	for (;;) {
		struct pollfd pfd = { .fd = s->fd, .events = POLLOUT };
		ssize_t r;

		s->st.events++;
		r = sendto(s->fd, f, len, 0, (struct sockaddr *)&s->addr,
			   sizeof(s->addr));
		if (r == (ssize_t)len)
			return 0;
		if (r >= 0)
			gen_fatal(s->o, "sendto on %s sent %zd of %u bytes",
				  s->o->port, r, len);
		if (errno == EMSGSIZE)
			gen_fatal(s->o, "-l %u: larger than what %s can send (its MTU)",
				  len, s->o->port);
		if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR)
			gen_fatal(s->o, "sendto on %s: %s", s->o->port,
				  strerror(errno));
		if (gen_stop || (give_up && gen_now() >= give_up))
			return -1;
		poll(&pfd, 1, 1);
	}
}

/*
 * Receive one frame addressed to us (not one of our own sends) without
 * waiting; its length, or 0 when none is queued.
 */
static unsigned int recv_frame(struct sock *s)
{
	for (;;) {
		struct sockaddr_ll from;
		socklen_t fromlen = sizeof(from);
		ssize_t r = recvfrom(s->fd, s->buf, sizeof(s->buf), MSG_DONTWAIT,
				     (struct sockaddr *)&from, &fromlen);

		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			gen_fatal(s->o, "recvfrom on %s: %s", s->o->port,
				  strerror(errno));
		}
		if (from.sll_pkttype == PACKET_OUTGOING)
			continue;
		s->st.events++;
		return (unsigned int)r;
	}
}

static int wait_in(struct sock *s, int timeout_ms)
{
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };

	return poll(&pfd, 1, timeout_ms);
}

/* Check a received frame; 0 if it is fine. */
static int verify_frame(struct sock *s, unsigned int len, uint64_t *seq,
			uint16_t *stream)
{
	if (gen_frame_seq(s->buf, len, seq, stream) ||
	    gen_check_length(s->buf, len) || gen_check_fragment(s->buf, 0, len))
		return -1;
	return 0;
}

static void tx_body(struct sock *s)
{
	const struct gen_opts *o = s->o;
	double t0 = gen_now();
	double give_up = timeout_at(o, t0);
	uint64_t seq = 0;

	s->st.tic = t0;
	while (!gen_stop && (!o->count || seq < o->count)) {
		uint64_t budget;
		int turn = gen_pace(o, o->rate, t0, seq, 0.1, &budget);

		if (turn < 0)
			break;
		if (!turn)
			continue;
		if (budget > o->burst)
			budget = o->burst;
		while (budget-- && (!o->count || seq < o->count)) {
			gen_fill(s->buf, 0, o->len, seq, 0);
			if (send_frame(s, s->buf, o->len, give_up))
				goto out;
			seq++;
		}
	}
out:
	s->st.packets = seq;
	s->st.bytes = seq * o->len;
	s->st.toc = gen_now();
}

/* rx and pong: receive until -n, --idle or --timeout says stop. */
static void rx_body(struct sock *s, int answer)
{
	const struct gen_opts *o = s->o;
	double start = gen_now();
	double give_up = timeout_at(o, start);

	while (!gen_stop && (!o->count || s->st.packets < o->count)) {
		unsigned int len, n = 0;
		double now, woke;

		if (o->timeout && gen_now() - start >= o->timeout)
			break;
		if (wait_in(s, SLICE_MS) < 0 && errno != EINTR)
			gen_fatal(o, "poll: %s", strerror(errno));
		woke = gen_now();
		while (n < o->burst && (!o->count || s->st.packets < o->count) &&
		       (len = recv_frame(s)) > 0) {
			uint64_t seq;
			uint16_t stream;

			if (o->verify) {
				if (verify_frame(s, len, &seq, &stream))
					s->st.errors++;
				else
					gen_check_seq(&s->checker, &s->st, seq,
						      stream);
			}
			if (answer && len >= GEN_HDR_LEN) {
				gen_swap_addresses(s->buf);
				if (send_frame(s, s->buf, len, give_up))
					break;
			}
			s->st.packets++;
			s->st.bytes += len;
			n++;
		}
		now = gen_now();
		if (n) {
			if (!s->st.tic)
				s->st.tic = woke;
			s->st.toc = now;
		} else if (s->st.tic && now - s->st.toc >= o->idle) {
			break;
		}
	}
}

static void ping_body(struct sock *s)
{
	const struct gen_opts *o = s->o;
	double t0 = gen_now();
	double give_up = timeout_at(o, t0);
	uint64_t seq = 0;

	s->st.tic = t0;
	while (!gen_stop && (!o->count || seq < o->count)) {
		double sent_at, deadline;
		int found = 0, turn = gen_pace(o, o->rate, t0, seq, HUGE_VAL, NULL);

		if (turn < 0)
			break;
		if (!turn)
			continue;
		gen_fill(s->buf, 0, o->len, seq, 0);
		sent_at = gen_now();
		if (send_frame(s, s->buf, o->len, give_up))
			break;
		deadline = sent_at + o->idle;
		while (!gen_stop && !found && gen_now() < deadline) {
			double left = deadline - gen_now();
			unsigned int len;

			wait_in(s, left * 1000 < SLICE_MS ? (int)(left * 1000) + 1 :
				SLICE_MS);
			while (!found && (len = recv_frame(s)) > 0) {
				uint64_t got;
				uint16_t stream;

				if (gen_frame_seq(s->buf, len, &got, &stream) ||
				    got != seq)
					continue;
				found = 1;
				s->st.bytes += len;
				if (o->verify &&
				    verify_frame(s, len, &got, &stream))
					s->st.errors++;
			}
		}
		gen_ping_outcome(&s->st, found, sent_at);
		seq++;
	}
	s->st.toc = gen_now();
}

int main(int argc, char **argv)
{
	static struct sock s;
	struct gen_opts o;

	gen_parse_args(argc, argv, &tool, &o);
	open_socket(&o, &s);
	gen_template_init(&o);
	gen_install_signals();
	gen_wait_start(&o);
	gen_pin_cpu(&o, 0);
	switch (o.role) {
	case GEN_TX:
		tx_body(&s);
		break;
	case GEN_RX:
		rx_body(&s, 0);
		break;
	case GEN_PING:
		ping_body(&s);
		break;
	case GEN_PONG:
		rx_body(&s, 1);
		break;
	}
	close(s.fd);
	gen_report(&o, &s.st);
	return gen_exit_code(&o, &s.st);
}
