/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * ptnet: the legacy netmap control API (NIOCGINFO, NIOCREGIF, NIOCCONFIG).
 *
 * Stock QEMU's netmap backend and programs built on nm_open() use it. The
 * kernel translates every legacy request onto the NIOCCTRL paths.
 * Included from netmap.h; do not include it on its own.
 */
#ifndef _UAPI_NET_NETMAP_LEGACY_H
#define _UAPI_NET_NETMAP_LEGACY_H

struct nmreq {
	char nr_name[NM_IFNAMSIZ];
	uint32_t nr_version;		/* NETMAP_API */
	uint32_t nr_offset;		/* (k) offset of the netmap_if */
	uint32_t nr_memsize;		/* (k) size of the shared region */
	uint32_t nr_tx_slots;
	uint32_t nr_rx_slots;
	uint16_t nr_tx_rings;
	uint16_t nr_rx_rings;
	uint16_t nr_ringid;		/* ring index and NETMAP_* bits */
	uint16_t nr_cmd;		/* NETMAP_BDG_* and friends */
	uint16_t nr_arg1;		/* command argument (vnet hdr len, ...) */
	uint16_t nr_arg2;		/* memory id */
	uint32_t nr_arg3;		/* extra buffers */
	uint32_t nr_flags;		/* NR_REG_* in the low bits, NR_* above */
	uint32_t spare2[1];
};

/* nr_ringid bits */
#define NETMAP_HW_RING		0x4000	/* a single hardware ring */
#define NETMAP_SW_RING		0x2000	/* the host rings only */
#define NETMAP_NO_TX_POLL	0x1000	/* poll() does not push tx */
#define NETMAP_DO_RX_POLL	0x8000	/* poll() always syncs rx */
#define NETMAP_RING_MASK	0x0fff	/* the ring index */

#define NR_REG_MASK		0xf	/* NR_REG_* in nmreq.nr_flags */

/* nr_cmd values */
#define NETMAP_BDG_ATTACH	1	/* attach nr_name to a VALE switch */
#define NETMAP_BDG_DETACH	2
#define NETMAP_BDG_REGOPS	3	/* in-kernel users only */
#define NETMAP_BDG_LIST		4	/* iterate switches and ports */
#define NETMAP_BDG_VNET_HDR	5	/* set the vnet header length (nr_arg1) */
#define NETMAP_BDG_NEWIF	6	/* create a persistent VALE port */
#define NETMAP_BDG_DELIF	7	/* delete a persistent VALE port */
#define NETMAP_PT_HOST_CREATE	8	/* obsolete ptnetmap commands */
#define NETMAP_PT_HOST_DELETE	9
#define NETMAP_BDG_POLLING_ON	10
#define NETMAP_BDG_POLLING_OFF	11
#define NETMAP_VNET_HDR_GET	12	/* read the vnet header length */

#define NETMAP_BDG_HOST		1	/* nr_arg1 of BDG_ATTACH: also the host stack */

#define NM_IFRDATA_LEN		256

struct nm_ifreq {
	char nifr_name[NM_IFNAMSIZ];
	char data[NM_IFRDATA_LEN];
};

#define NIOCGINFO		_IOWR('i', 145, struct nmreq)
#define NIOCREGIF		_IOWR('i', 146, struct nmreq)

NM_ABI_ASSERT(sizeof(struct nmreq) == 60);
NM_ABI_ASSERT(sizeof(struct nm_ifreq) == 272);	/* NIOCCONFIG is 0xC1106996 */
NM_ABI_ASSERT(__builtin_offsetof(struct nmreq, nr_ringid) == 40);
NM_ABI_ASSERT(__builtin_offsetof(struct nmreq, nr_cmd) == 42);
NM_ABI_ASSERT(__builtin_offsetof(struct nmreq, nr_arg3) == 48);
NM_ABI_ASSERT(__builtin_offsetof(struct nmreq, nr_flags) == 52);

#endif /* _UAPI_NET_NETMAP_LEGACY_H */
