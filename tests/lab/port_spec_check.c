// SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause
/*
 * port_spec_check: what nm_spec_parse() and nm_open() of netmap_user.h
 * make of port specs. The tests that keep ptnet's Python grammar
 * (ptnet/model/ports.py) in step with the C one compile and run it:
 * tests/unit/test_ports.py on the host (parser only) and
 * tests/lab/test_port_grammar.py in the lab (with --open).
 *
 * Reads NUL-terminated specs on stdin and writes one NUL-terminated record
 * for each (a port name may hold any byte but NUL, spaces and newlines
 * included, so it comes last):
 *
 *   ok MODE RINGID FLAGS MEMID TXR RXR HTXR HRXR TXS RXS OPEN NAME
 *   err MESSAGE
 *
 * OPEN is "-", or with --open the result of opening the spec with nm_open()
 * (the legacy NIOCREGIF, as QEMU's netmap backend does) and closing it
 * again: 0 or the errno.
 */
#define NETMAP_WITH_LIBS
#include <net/netmap_user.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	int do_open = argc > 1 && strcmp(argv[1], "--open") == 0;
	char spec[65536], err[NM_SPEC_ERRLEN];
	struct nm_spec s;
	size_t n = 0;
	int c;

	while ((c = getchar()) != EOF) {
		if (c && n < sizeof(spec) - 1) {
			spec[n++] = (char)c;
			continue;
		}
		if (c)
			return 2;	/* longer than any test writes */
		spec[n] = '\0';
		n = 0;
		if (nm_spec_parse(spec, &s, err, sizeof(err))) {
			printf("err %s", err);
			putchar('\0');
			continue;
		}
		printf("ok %u %u %llu %u %u %u %u %u %u %u ", s.mode, s.ringid,
		       (unsigned long long)s.flags, s.mem_id, s.tx_rings,
		       s.rx_rings, s.host_tx_rings, s.host_rx_rings,
		       s.tx_slots, s.rx_slots);
		if (do_open) {
			struct nm_desc *d = nm_open(spec, NULL, 0, NULL);

			printf("%d ", d ? 0 : errno);
			if (d)
				nm_close(d);
		} else {
			fputs("- ", stdout);
		}
		fputs(s.name, stdout);
		putchar('\0');
	}
	return 0;
}
