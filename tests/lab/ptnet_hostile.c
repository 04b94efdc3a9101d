// SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause
/*
 * ptnet-hostile: a hostile ptnet guest, for tests/lab/test_passthrough.py (scenario 4).
 *
 * It runs in a nested guest that has no ptnet driver, and drives ptnet-pci itself through
 * sysfs: the I/O registers with pread/pwrite on resource0, the host's region (the memdev's
 * BAR1) with mmap on resource1. It
 *   1. asks for a CSB outside guest RAM and starts: the device must refuse (PTCTL != 0);
 *   2. gives the device a real CSB (two pages of its own, physical addresses from
 *      /proc/self/pagemap) and starts the host loop (prints "hostile-started");
 *   3. for N rounds writes random head, cur and appl_need_kick values into every atok entry
 *      (and garbage into ktoa), kicks every KICK register of the window, those of rings the
 *      port does not have included, and scribbles over the host's rings (slots and headers);
 *   4. stops the loop (PTCTL must answer 0) and exits 0.
 * Any failure to set this up exits 1 with a message.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PTFEAT		0
#define PTCTL		4
#define NUM_TX_RINGS	28
#define NUM_RX_RINGS	32
#define CSB_GH_BAH	52
#define CSB_GH_BAL	56
#define CSB_HG_BAH	60
#define CSB_HG_BAL	64
#define KICK_BASE	128
#define IO_LEN		256
#define MD_MEMSIZE_LO	0
#define MD_RING_OFS	76
#define MD_RING_NUM	80
#define MD_RING_SIZE	84

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void die(const char *what)
{
	fprintf(stderr, "ptnet-hostile: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Read a one-line sysfs attribute of a PCI device into buf; false if it has none. */
static int read_attr(const char *dev, const char *attr, char *buf, size_t len)
{
	char path[512];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", dev, attr);
	f = fopen(path, "r");
	if (!f)
		return 0;
	ok = fgets(buf, len, f) != NULL;
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return ok;
}

/*
 * The sysfs directory of the PCI device with this vendor, device and class
 * (as sysfs spells them: "0x1b36", "0x000d", "0x020000"); exits when none.
 */
static void find_dev(const char *vendor, const char *device, const char *class,
		     char *dir, size_t len)
{
	DIR *d = opendir("/sys/bus/pci/devices");
	struct dirent *e;

	if (!d)
		die("/sys/bus/pci/devices");
	while ((e = readdir(d))) {
		char v[32], dv[32], c[32];

		if (e->d_name[0] == '.' ||
		    !read_attr(e->d_name, "vendor", v, sizeof(v)) ||
		    !read_attr(e->d_name, "device", dv, sizeof(dv)) ||
		    !read_attr(e->d_name, "class", c, sizeof(c)))
			continue;
		if (!strcasecmp(v, vendor) && !strcasecmp(dv, device) &&
		    !strcasecmp(c, class)) {
			snprintf(dir, len, "/sys/bus/pci/devices/%s", e->d_name);
			closedir(d);
			return;
		}
	}
	fprintf(stderr, "ptnet-hostile: no PCI device %s:%s of class %s\n",
		vendor, device, class);
	exit(1);
}

static int open_res(const char *dir, int bar)
{
	char path[600];
	int fd;

	snprintf(path, sizeof(path), "%s/enable", dir);
	fd = open(path, O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1", 1) != 1)
			die("enable");
		close(fd);
	}
	snprintf(path, sizeof(path), "%s/resource%d", dir, bar);
	fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0)
		die(path);
	return fd;
}

static uint32_t rd(int fd, unsigned int reg)
{
	uint32_t v;

	if (pread(fd, &v, 4, reg) != 4)
		die("register read");
	return v;
}

static void wr(int fd, unsigned int reg, uint32_t v)
{
	if (pwrite(fd, &v, 4, reg) != 4)
		die("register write");
}

static uint64_t phys_of(void *p)
{
	uint64_t ent;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		die("pagemap");
	if (pread(fd, &ent, 8, ((uintptr_t)p / 4096) * 8) != 8)
		die("pagemap read");
	close(fd);
	if (!(ent & (1ULL << 63)) || !(ent & ((1ULL << 55) - 1))) {
		fprintf(stderr, "ptnet-hostile: no physical address for the CSB\n");
		exit(1);
	}
	return (ent & ((1ULL << 55) - 1)) * 4096 + (uintptr_t)p % 4096;
}

static void set_csb(int io, uint64_t atok, uint64_t ktoa)
{
	wr(io, CSB_GH_BAH, atok >> 32);
	wr(io, CSB_GH_BAL, (uint32_t)atok);
	wr(io, CSB_HG_BAH, ktoa >> 32);
	wr(io, CSB_HG_BAL, (uint32_t)ktoa);
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 1000;
	char pt_dir[512], md_dir[512];
	uint32_t *atok, *ktoa, nrings, ret;
	uint64_t kicks = 0, scribbles = 0;
	volatile uint8_t *region;
	uint32_t ring_ofs, ring_len;
	int io, md_io, md_mem, r;

	find_dev("0x1b36", "0x000d", "0x020000", pt_dir, sizeof(pt_dir));
	find_dev("0x1b36", "0x000c", "0x050000", md_dir, sizeof(md_dir));
	io = open_res(pt_dir, 0);
	md_io = open_res(md_dir, 0);
	md_mem = open_res(md_dir, 1);
	nrings = rd(io, NUM_TX_RINGS) + rd(io, NUM_RX_RINGS);
	ring_ofs = rd(md_io, MD_RING_OFS);
	ring_len = rd(md_io, MD_RING_NUM) * rd(md_io, MD_RING_SIZE);
	region = mmap(NULL, ring_ofs + ring_len, PROT_READ | PROT_WRITE, MAP_SHARED, md_mem, 0);
	if (region == MAP_FAILED)
		die("mmap of the host region");
	printf("hostile: %u rings, ring pool at %u, %u bytes, region %u bytes\n", nrings,
	       ring_ofs, ring_len, rd(md_io, MD_MEMSIZE_LO));

	/* 1. A CSB far outside guest RAM. */
	set_csb(io, 0xfff0000000ULL, 0xfff0001000ULL);
	wr(io, PTCTL, 1);
	ret = rd(io, PTCTL);
	printf("bad-csb-start %u\n", ret);
	if (!ret) {
		fprintf(stderr, "ptnet-hostile: PTCTL start accepted a CSB outside RAM\n");
		return 1;
	}

	/* 2. A real CSB. */
	atok = aligned_alloc(4096, 8192);
	if (!atok || mlock(atok, 8192))
		die("CSB memory");
	memset(atok, 0, 8192);
	ktoa = atok + 1024;
	set_csb(io, phys_of(atok), phys_of(ktoa));
	wr(io, PTFEAT, 0);
	wr(io, PTCTL, 1);
	ret = rd(io, PTCTL);
	if (ret) {
		fprintf(stderr, "ptnet-hostile: PTCTL start: %u\n", ret);
		return 1;
	}
	printf("hostile-started\n");
	fflush(stdout);

	/* 3. Garbage. */
	for (r = 0; r < rounds; r++) {
		uint32_t k;

		for (k = 0; k < nrings; k++) {
			uint32_t *e = atok + 16 * k;

			e[1] = (uint32_t)rnd() % 5000;		/* cur */
			__sync_synchronize();
			e[0] = (uint32_t)rnd() % 5000;		/* head */
			e[2] = (uint32_t)rnd();			/* appl_need_kick */
			e[3] = (uint32_t)rnd();			/* sync_flags */
			ktoa[16 * k + (rnd() % 3)] = (uint32_t)rnd();
		}
		for (k = 0; k < (IO_LEN - KICK_BASE) / 4; k += 1 + rnd() % 3) {
			wr(io, KICK_BASE + 4 * k, (uint32_t)rnd());
			kicks++;
		}
		for (k = 0; k < 16; k++) {
			region[ring_ofs + rnd() % ring_len] = (uint8_t)rnd();
			scribbles++;
		}
		if (r % 100 == 0)
			usleep(1000);
	}

	/* 4. Stop. */
	wr(io, PTCTL, 2);
	ret = rd(io, PTCTL);
	printf("hostile-done rounds %d kicks %llu scribbles %llu stop %u\n", rounds,
	       (unsigned long long)kicks, (unsigned long long)scribbles, ret);
	return ret ? 1 : 0;
}
