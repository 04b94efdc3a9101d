// SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause
/*
 * vale-ctl: manage VALE switches through NIOCCTRL.
 *
 *   vale-ctl                      list every port of every switch
 *   vale-ctl -l [valeS:P]         the same, or where one port is
 *   vale-ctl -g valeS:P           the number of rx rings of a port
 *   vale-ctl -n NAME [-C spec] [-m memid]
 *                                 create the persistent VALE port NAME
 *   vale-ctl -r NAME              delete it
 *   vale-ctl -a valeS:IF          attach IF (a persistent port or a NIC)
 *   vale-ctl -h valeS:IF          attach the NIC IF and its host stack
 *   vale-ctl -d valeS:IF          detach IF
 *   vale-ctl -p valeS:IF [-C m,cpu[,n]]
 *                                 poll the NIC IF with kernel threads
 *   vale-ctl -P valeS:IF          stop polling it
 *
 * The list prints one "bridge:B port:P NAME" line per port; -l NAME prints
 * "NAME at bridge:B port:P". -C with -n gives "slots", "tx,rx slots",
 * "tx,rx slots,rings" or "tx,rx slots,tx,rx rings"; with -p it gives the
 * mode (0: one thread on CPU cpu for every ring, 1: ring i on CPU i for n
 * rings from cpu on).
 *
 * Exit status: 0 on success, 1 when the kernel refuses (bad names
 * included: "vale-ctl: cannot VERB NAME: " and the errno's text), 2 for
 * bad usage (with a one-line message).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NETMAP_WITH_LIBS
#include <net/netmap_user.h>

#include "gen.h"

static const char *prog = "vale-ctl";

#define usage_error(...)	gen_die(2, prog, "--help", __VA_ARGS__)

static void usage(void)
{
	printf("Usage: %s [-l [valeS:P]] [-g valeS:P] [-n NAME [-C spec] [-m memid]]\n"
	       "       [-r NAME] [-a valeS:IF] [-h valeS:IF] [-d valeS:IF]\n"
	       "       [-p valeS:IF [-C mode,cpu[,n]]] [-P valeS:IF]\n"
	       "  (no option)  list the ports of every switch\n"
	       "  -l [PORT]    list, or tell where PORT is\n"
	       "  -g PORT      print the number of rx rings of PORT\n"
	       "  -n NAME      create the persistent VALE port NAME\n"
	       "  -r NAME      delete the persistent VALE port NAME\n"
	       "  -a valeS:IF  attach IF to switch valeS\n"
	       "  -h valeS:IF  attach the NIC IF and its host stack\n"
	       "  -d valeS:IF  detach IF from switch valeS\n"
	       "  -p valeS:IF  poll the NIC IF with kernel threads\n"
	       "  -P valeS:IF  stop polling IF\n"
	       "  -C SPEC      -n: slots[,rx slots[,rings[,rx rings]]];\n"
	       "               -p: mode (0 one thread, 1 a thread per ring),cpu[,n]\n"
	       "  -m MEMID     -n: use memory region MEMID (default: its own)\n",
	       prog);
	exit(0);
}

/*
 * The kernel judges names (and says why with an errno, as for any other
 * refusal); only one that does not fit in nr_name is bad usage.
 */
static void check_name(const char *name)
{
	if (strlen(name) >= sizeof(((struct nmreq_header *)0)->nr_name))
		usage_error("%s: name too long (at most %zu bytes)", name,
			    sizeof(((struct nmreq_header *)0)->nr_name) - 1);
}

/* Up to @max comma-separated numbers; returns how many. */
static int parse_spec(const char *spec, unsigned long *v, int max)
{
	const char *p = spec;
	int n = 0;

	while (*p) {
		char *end;

		if (n == max || *p < '0' || *p > '9')
			usage_error("bad -C %s", spec);
		errno = 0;
		v[n++] = strtoul(p, &end, 10);
		if (errno || v[n - 1] > 0xffffffffUL || (*end && *end != ','))
			usage_error("bad -C %s", spec);
		p = *end ? end + 1 : end;
		if (*end && !*p)
			usage_error("bad -C %s", spec);
	}
	if (!n)
		usage_error("bad -C %s", spec);
	return n;
}

static int dev_fd = -1;

/* NIOCCTRL; the header comes back in @hdr. */
static int ctrl_hdr(struct nmreq_header *hdr, uint16_t reqtype,
		    const char *name, void *body)
{
	if (dev_fd < 0) {
		dev_fd = open(NETMAP_DEVICE_NAME, O_RDWR | O_CLOEXEC);
		if (dev_fd < 0) {
			fprintf(stderr, "%s: cannot open %s: %s\n", prog,
				NETMAP_DEVICE_NAME, strerror(errno));
			exit(1);
		}
	}
	nm_req_init(hdr, reqtype, name, body);
	return ioctl(dev_fd, NIOCCTRL, hdr) < 0 ? -1 : 0;
}

static int ctrl(uint16_t reqtype, const char *name, void *body)
{
	struct nmreq_header hdr;

	return ctrl_hdr(&hdr, reqtype, name, body);
}

static int fail(const char *what, const char *name)
{
	fprintf(stderr, "%s: cannot %s %s: %s\n", prog, what, name,
		strerror(errno));
	return 1;
}

static int list_all(void)
{
	struct nmreq_vale_list l = { 0 };
	struct nmreq_header hdr;

	/* An empty name asks for the port at or after the cursor. */
	while (!ctrl_hdr(&hdr, NETMAP_REQ_VALE_LIST, NULL, &l)) {
		printf("bridge:%u port:%u %.*s\n", l.nr_bridge_idx,
		       l.nr_port_idx, (int)sizeof(hdr.nr_name), hdr.nr_name);
		l.nr_port_idx++;
	}
	if (errno != ENOENT)
		return fail("list", "the switches");
	return 0;
}

static int list_one(const char *port)
{
	struct nmreq_vale_list l = { 0 };

	if (ctrl(NETMAP_REQ_VALE_LIST, port, &l) < 0)
		return fail("find", port);
	printf("%s at bridge:%u port:%u\n", port, l.nr_bridge_idx,
	       l.nr_port_idx);
	return 0;
}

static int get_info(const char *port)
{
	struct nmreq_port_info_get info = { 0 };

	if (ctrl(NETMAP_REQ_PORT_INFO_GET, port, &info) < 0)
		return fail("get the info of", port);
	printf("%s: %u queues.\n", port, info.nr_rx_rings);
	return 0;
}

static int new_port(const char *name, const char *spec, unsigned long memid)
{
	struct nmreq_vale_newif req = { 0 };
	unsigned long v[4];
	int n = spec ? parse_spec(spec, v, 4) : 0;

	if ((n >= 3 && v[2] > 0xffff) || (n >= 4 && v[3] > 0xffff))
		usage_error("bad -C %s: too many rings", spec);
	if (n >= 1)
		req.nr_tx_slots = req.nr_rx_slots = v[0];
	if (n >= 2)
		req.nr_rx_slots = v[1];
	if (n >= 3)
		req.nr_tx_rings = req.nr_rx_rings = v[2];
	if (n >= 4)
		req.nr_rx_rings = v[3];
	req.nr_mem_id = memid;
	if (ctrl(NETMAP_REQ_VALE_NEWIF, name, &req) < 0)
		return fail("create", name);
	return 0;
}

static int attach(const char *name, int host)
{
	struct nmreq_vale_attach req = { 0 };

	req.reg.nr_mode = host ? NR_REG_NIC_SW : NR_REG_ALL_NIC;
	if (ctrl(NETMAP_REQ_VALE_ATTACH, name, &req) < 0)
		return fail("attach", name);
	return 0;
}

static int polling(const char *name, const char *spec)
{
	struct nmreq_vale_polling req = { 0 };
	unsigned long v[3] = { 0, 0, 1 };
	int n = spec ? parse_spec(spec, v, 3) : 0;

	if (n && v[0] > 1)
		usage_error("bad -C %s: the mode is 0 or 1", spec);
	req.nr_mode = v[0] ? NETMAP_POLLING_MODE_MULTI_CPU :
			     NETMAP_POLLING_MODE_SINGLE_CPU;
	req.nr_first_cpu_id = v[1];
	req.nr_num_polling_cpus = v[2];
	if (ctrl(NETMAP_REQ_VALE_POLLING_ENABLE, name, &req) < 0)
		return fail("start polling", name);
	return 0;
}

int main(int argc, char **argv)
{
	const char *name = NULL, *spec = NULL;
	unsigned long memid = 0;
	int action = 0, ch;
	char *end;

	if (argc > 1 && !strcmp(argv[1], "--help"))
		usage();
	opterr = 0;
	while ((ch = getopt(argc, argv, ":g:a:h:d:n:r:l:p:P:C:m:")) != -1) {
		switch (ch) {
		case 'C':
			spec = optarg;
			break;
		case 'm':
			errno = 0;
			memid = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || memid > 0xffff)
				usage_error("bad -m %s", optarg);
			break;
		case ':':
			if (optopt == 'l') {
				if (action && action != 'l')
					usage_error("one action at a time");
				action = 'l';
				break;
			}
			usage_error("-%c needs an argument", optopt);
		case '?':
			usage_error("unknown option -%c", optopt);
		default:
			if (action)
				usage_error("one action at a time");
			action = ch;
			name = optarg;
			break;
		}
	}
	if (optind < argc) {
		/* "-l NAME" written apart from a trailing -l */
		if (action == 'l' && !name && optind + 1 == argc) {
			name = argv[optind];
		} else {
			usage_error("unexpected argument %s", argv[optind]);
		}
	}
	if (spec && action != 'n' && action != 'p')
		usage_error("-C goes with -n or -p");
	if (memid && action != 'n')
		usage_error("-m goes with -n");

	switch (action) {
	case 0:
		return list_all();
	case 'l':
		if (!name)
			return list_all();
		check_name(name);
		return list_one(name);
	case 'g':
		check_name(name);
		return get_info(name);
	case 'n':
		check_name(name);
		return new_port(name, spec, memid);
	case 'r':
		check_name(name);
		if (ctrl(NETMAP_REQ_VALE_DELIF, name, NULL) < 0)
			return fail("delete", name);
		return 0;
	case 'a':
	case 'h':
		check_name(name);
		return attach(name, action == 'h');
	case 'd': {
		struct nmreq_vale_detach req = { 0 };

		check_name(name);
		if (ctrl(NETMAP_REQ_VALE_DETACH, name, &req) < 0)
			return fail("detach", name);
		return 0;
	}
	case 'p':
		check_name(name);
		return polling(name, spec);
	case 'P': {
		/* The body is required, and unused. */
		struct nmreq_vale_polling req = { 0 };

		check_name(name);
		if (ctrl(NETMAP_REQ_VALE_POLLING_DISABLE, name, &req) < 0)
			return fail("stop polling", name);
		return 0;
	}
	}
	return 2;
}
