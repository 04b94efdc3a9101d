/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * ptnet: the netmap user ABI, API version 14.
 *
 * One header for the kernel module, the guest driver, our tools and any
 * unmodified netmap application. Every size and offset that binary
 * compatibility rests on is pinned by a static assertion at the end.
 *
 * Fields marked (k) are written by the kernel and read-only for the
 * application; fields marked (u) are written by the application.
 */
#ifndef _UAPI_NET_NETMAP_H
#define _UAPI_NET_NETMAP_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/ioctl.h>
#include <linux/time_types.h>
typedef struct __kernel_old_timeval nm_timeval_t;
#define NM_KW			/* the kernel writes these fields */
#else
#include <stdint.h>
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/time.h>
typedef struct timeval nm_timeval_t;
#define NM_KW const		/* read-only for the application */
#endif

#define NETMAP_API		14	/* the version we speak */
#define NETMAP_MIN_API		14	/* the oldest request version accepted */
#define NETMAP_MAX_API		15	/* the newest request version accepted */

#define NM_CACHE_ALIGN		128
#define NM_IFNAMSIZ		16	/* IFNAMSIZ, as in <net/if.h> */
#define NETMAP_BUF_SIZE_DEFAULT	2048
#define NM_MAX_FRAGS		64	/* slots one packet may span */

/* ---------------------------------------------------------------------- */
/* Shared memory: slots, rings and the per-port interface descriptor.     */
/* ---------------------------------------------------------------------- */

struct netmap_slot {
	uint32_t buf_idx;		/* buffer index */
	uint16_t len;			/* fragment length in bytes */
	uint16_t flags;			/* NS_* */
	uint64_t ptr;			/* user address, with NS_INDIRECT */
};

#define NS_BUF_CHANGED		0x0001	/* buf_idx was swapped by the app */
#define NS_REPORT		0x0002	/* ask for a completion report */
#define NS_FORWARD		0x0004	/* forward to the other side */
#define NS_NO_LEARN		0x0008	/* VALE: do not learn the source */
#define NS_INDIRECT		0x0010	/* data is at ptr, not in the buffer */
#define NS_MOREFRAG		0x0020	/* another fragment follows */
#define NS_TXMON		0x0040	/* monitor: seen on the tx side */
#define NS_PORT_SHIFT		8	/* VALE destination port in the high byte */
#define NS_PORT_MASK		(0xff << NS_PORT_SHIFT)
#define NS_RFRAGS(_slot)	(((_slot)->flags >> 8) & 0xff)

struct netmap_ring {
	/* buffer i lives at (char *)ring + buf_ofs + i * nr_buf_size */
	NM_KW int64_t buf_ofs;
	NM_KW uint32_t num_slots;	/* not necessarily a power of two */
	NM_KW uint32_t nr_buf_size;
	NM_KW uint16_t ringid;
	NM_KW uint16_t dir;		/* NR_TX or NR_RX */

	uint32_t head;			/* (u) first slot owned by the app */
	uint32_t cur;			/* (u) wakeup point for poll */
	NM_KW uint32_t tail;		/* (k) first slot owned by the kernel */

	uint32_t flags;			/* NR_TIMESTAMP, NR_FORWARD */

	NM_KW nm_timeval_t ts;		/* (k) time of the last rxsync */

	NM_KW uint64_t offset_mask;	/* NETMAP_REQ_OPT_OFFSETS */
	NM_KW uint64_t buf_align;

	/* reserved for the kernel, on its own cache line */
	uint8_t __attribute__((aligned(NM_CACHE_ALIGN))) sem[128];

	struct netmap_slot slot[];
};

#define NR_TX			1	/* netmap_ring.dir */
#define NR_RX			0

#define NR_TIMESTAMP		0x0002	/* set ts on every sync */
#define NR_FORWARD		0x0004	/* honour NS_FORWARD on this ring */

struct netmap_if {
	char ni_name[NM_IFNAMSIZ];	/* port name */
	NM_KW uint32_t ni_version;	/* API version */
	NM_KW uint32_t ni_flags;	/* NI_* */
	NM_KW uint32_t ni_tx_rings;	/* hardware tx rings */
	NM_KW uint32_t ni_rx_rings;	/* hardware rx rings */
	uint32_t ni_bufs_head;		/* head of the extra-buffer list */
	NM_KW uint32_t ni_host_tx_rings;
	NM_KW uint32_t ni_host_rx_rings;
	uint32_t ni_spare1[3];
	/*
	 * Ring offsets relative to this struct, in the order: hardware tx,
	 * host tx, hardware rx, host rx.
	 */
	NM_KW ssize_t ring_ofs[];
};

#define NI_PRIV_MEM		0x1	/* the port has a private memory region */

/* ---------------------------------------------------------------------- */
/* ioctls                                                                  */
/* ---------------------------------------------------------------------- */

#define NETMAP_REQ_MAXSIZE	4096	/* body plus options */
#define NETMAP_REQ_IFNAMSIZ	64

struct nmreq_option {
	uint64_t nro_next;		/* user pointer to the next option */
	uint32_t nro_reqtype;		/* NETMAP_REQ_OPT_* */
	uint32_t nro_status;		/* (k) 0 or an errno */
	uint64_t nro_size;		/* whole option size, header included */
};

struct nmreq_header {
	uint16_t nr_version;		/* NETMAP_API */
	uint16_t nr_reqtype;		/* NETMAP_REQ_* */
	uint32_t nr_reserved;		/* must be zero */
	char nr_name[NETMAP_REQ_IFNAMSIZ];
	uint64_t nr_options;		/* user pointer to the first option */
	uint64_t nr_body;		/* user pointer to the request body */
};

enum {
	NETMAP_REQ_REGISTER = 1,
	NETMAP_REQ_PORT_INFO_GET = 2,
	NETMAP_REQ_VALE_ATTACH = 3,
	NETMAP_REQ_VALE_DETACH = 4,
	NETMAP_REQ_VALE_LIST = 5,
	NETMAP_REQ_PORT_HDR_SET = 6,
	NETMAP_REQ_PORT_HDR_GET = 7,
	NETMAP_REQ_VALE_NEWIF = 8,
	NETMAP_REQ_VALE_DELIF = 9,
	NETMAP_REQ_VALE_POLLING_ENABLE = 10,
	NETMAP_REQ_VALE_POLLING_DISABLE = 11,
	NETMAP_REQ_POOLS_INFO_GET = 12,
	NETMAP_REQ_SYNC_KLOOP_START = 13,
	NETMAP_REQ_SYNC_KLOOP_STOP = 14,
	NETMAP_REQ_CSB_ENABLE = 15,
};

enum {
	NETMAP_REQ_OPT_EXTMEM = 1,
	NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS = 2,
	NETMAP_REQ_OPT_CSB = 3,
	NETMAP_REQ_OPT_SYNC_KLOOP_MODE = 4,
	NETMAP_REQ_OPT_OFFSETS = 5,
	NETMAP_REQ_OPT_MAX = NETMAP_REQ_OPT_OFFSETS,
};

/* NETMAP_REQ_REGISTER */
struct nmreq_register {
	uint64_t nr_offset;		/* (k) offset of the netmap_if */
	uint64_t nr_memsize;		/* (k) size of the shared region */
	uint32_t nr_tx_slots;		/* requested, then actual */
	uint32_t nr_rx_slots;
	uint16_t nr_tx_rings;
	uint16_t nr_rx_rings;
	uint16_t nr_host_tx_rings;
	uint16_t nr_host_rx_rings;
	uint16_t nr_mem_id;		/* 0: any; 1: the global region */
	uint16_t nr_ringid;		/* ring index for ONE_NIC / ONE_SW */
	uint32_t nr_mode;		/* NR_REG_* */
	uint32_t nr_extra_bufs;		/* requested, then granted */
	uint64_t nr_flags;		/* NR_* below */
};

#define NR_MONITOR_TX		0x100
#define NR_MONITOR_RX		0x200
#define NR_ZCOPY_MON		0x400
#define NR_EXCLUSIVE		0x800
#define NR_RX_RINGS_ONLY	0x2000
#define NR_TX_RINGS_ONLY	0x4000
#define NR_ACCEPT_VNET_HDR	0x8000
#define NR_DO_RX_POLL		0x10000
#define NR_NO_TX_POLL		0x20000

enum {
	NR_REG_DEFAULT = 0,
	NR_REG_ALL_NIC = 1,
	NR_REG_SW = 2,
	NR_REG_NIC_SW = 3,
	NR_REG_ONE_NIC = 4,
	NR_REG_PIPE_MASTER = 5,		/* deprecated: use "x{N" */
	NR_REG_PIPE_SLAVE = 6,		/* deprecated: use "x}N" */
	NR_REG_NULL = 7,
	NR_REG_ONE_SW = 8,
};

#define NIOCCTRL		_IOWR('i', 151, struct nmreq_header)
#define NIOCTXSYNC		_IO('i', 148)
#define NIOCRXSYNC		_IO('i', 149)
#define NIOCCONFIG		_IOWR('i', 150, struct nm_ifreq) /* 0xC1106996 */

/*
 * NETMAP_REQ_PORT_INFO_GET (32 bytes). With a port name: the port's
 * geometry and region, the counts and nr_mem_id going in as the hints a
 * REGISTER in NR_REG_ALL_NIC mode would give. With an empty name: the
 * size and id of region nr_mem_id (0: the global one), the rest as given.
 */
struct nmreq_port_info_get {
	uint64_t nr_memsize;		/* (k) size of the region */
	uint32_t nr_tx_slots;		/* hint, then actual */
	uint32_t nr_rx_slots;
	uint16_t nr_tx_rings;
	uint16_t nr_rx_rings;
	uint16_t nr_host_tx_rings;
	uint16_t nr_host_rx_rings;
	uint16_t nr_mem_id;		/* in and out */
	uint16_t pad[3];
};

#define NM_BDG_NAME		"vale"	/* VALE switch name prefix */

struct nmreq_vale_attach {
	struct nmreq_register reg;
	uint32_t port_index;		/* (k) */
	uint32_t pad1;
};

struct nmreq_vale_detach {
	uint32_t port_index;		/* (k) */
	uint32_t pad1;
};

struct nmreq_vale_list {
	uint16_t nr_bridge_idx;		/* in/out: iteration cursor */
	uint16_t pad1;
	uint32_t nr_port_idx;		/* in/out: iteration cursor */
};

struct nmreq_port_hdr {
	uint32_t nr_hdr_len;		/* 0, 10 or 12 */
	uint32_t pad1;
};

struct nmreq_vale_newif {
	uint32_t nr_tx_slots;
	uint32_t nr_rx_slots;
	uint16_t nr_tx_rings;
	uint16_t nr_rx_rings;
	uint16_t nr_mem_id;
	uint16_t pad1;
};

struct nmreq_vale_polling {
	uint32_t nr_mode;		/* NETMAP_POLLING_MODE_* */
	uint32_t nr_first_cpu_id;
	uint32_t nr_num_polling_cpus;
	uint32_t pad1;
};

#define NETMAP_POLLING_MODE_SINGLE_CPU	1
#define NETMAP_POLLING_MODE_MULTI_CPU	2

struct nmreq_pools_info {
	uint64_t nr_memsize;
	uint16_t nr_mem_id;		/* in/out */
	uint16_t pad1[3];
	uint64_t nr_if_pool_offset;
	uint32_t nr_if_pool_objtotal;
	uint32_t nr_if_pool_objsize;
	uint64_t nr_ring_pool_offset;
	uint32_t nr_ring_pool_objtotal;
	uint32_t nr_ring_pool_objsize;
	uint64_t nr_buf_pool_offset;
	uint32_t nr_buf_pool_objtotal;
	uint32_t nr_buf_pool_objsize;
};

struct nmreq_sync_kloop_start {
	uint32_t sleep_us;		/* poll period without eventfds */
	uint32_t pad1;
};

/* ---------------------------------------------------------------------- */
/* Options                                                                 */
/* ---------------------------------------------------------------------- */

struct nmreq_opt_extmem {
	struct nmreq_option nro_opt;
	uint64_t nro_usrptr;		/* user memory holding the pools */
	struct nmreq_pools_info nro_info;
};

struct nm_kloop_eventfds {
	int32_t ioeventfd;		/* application -> kernel */
	int32_t irqfd;			/* kernel -> application */
};

struct nmreq_opt_sync_kloop_eventfds {
	struct nmreq_option nro_opt;
	/* one entry per ring, tx rings first; nro_size = 24 + 8 * N */
	struct nm_kloop_eventfds eventfds[];
};

struct nmreq_opt_sync_kloop_mode {
	struct nmreq_option nro_opt;
	uint32_t mode;			/* NM_OPT_SYNC_KLOOP_* */
	uint32_t pad1;			/* the body is 8 bytes */
};

#define NM_OPT_SYNC_KLOOP_DIRECT_TX	(1 << 0)
#define NM_OPT_SYNC_KLOOP_DIRECT_RX	(1 << 1)

struct nmreq_opt_csb {
	struct nmreq_option nro_opt;
	uint64_t csb_atok;		/* user pointer to N struct nm_csb_atok */
	uint64_t csb_ktoa;		/* user pointer to N struct nm_csb_ktoa */
};

struct nmreq_opt_offsets {
	struct nmreq_option nro_opt;
	uint64_t nro_max_offset;
	uint64_t nro_initial_offset;
	uint32_t nro_offset_bits;
	uint32_t nro_tx_align;
	uint64_t nro_min_gap;
};

/* ---------------------------------------------------------------------- */
/* CSB: ring pointers exchanged through memory instead of ring headers.   */
/* ---------------------------------------------------------------------- */

/*
 * Writer order: cur (hwcur), store-store barrier, head (hwtail).
 * Reader order: head (hwtail), load-load barrier, cur (hwcur).
 * A reader may thus see a newer cur than head, never the reverse.
 */
struct nm_csb_atok {
	uint32_t head;			/* (u) */
	uint32_t cur;			/* (u) */
	uint32_t appl_need_kick;	/* (u) the app wants an irqfd kick */
	uint32_t sync_flags;		/* (u) NAF_* style flags of the sync */
	uint32_t pad[12];
};

struct nm_csb_ktoa {
	uint32_t hwcur;			/* (k) */
	uint32_t hwtail;		/* (k) */
	uint32_t kern_need_kick;	/* (k) the kernel wants an ioeventfd kick */
	uint32_t pad[13];
};

#ifndef __KERNEL__
static inline void nm_stst_barrier(void)
{
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline void nm_ldld_barrier(void)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
}

/* Application side: publish cur and head for the kernel loop. */
static inline void nm_sync_kloop_appl_write(struct nm_csb_atok *atok,
					    uint32_t cur, uint32_t head)
{
	nm_stst_barrier();		/* slot writes before the pointers */
	atok->cur = cur;
	nm_stst_barrier();
	atok->head = head;
}

/* Application side: read what the kernel loop published. */
static inline void nm_sync_kloop_appl_read(const struct nm_csb_ktoa *ktoa,
					   uint32_t *hwtail, uint32_t *hwcur)
{
	*hwtail = ktoa->hwtail;
	nm_ldld_barrier();
	*hwcur = ktoa->hwcur;
	nm_ldld_barrier();		/* pointers before slot reads */
}
#endif

/* ---------------------------------------------------------------------- */
/* The layout contract (x86-64, LP64).                                     */
/* ---------------------------------------------------------------------- */

#ifdef __cplusplus
#define NM_ABI_ASSERT(e) static_assert(e, #e)
#else
#define NM_ABI_ASSERT(e) _Static_assert(e, #e)
#endif
#define NM_OFS(t, f) __builtin_offsetof(struct t, f)

NM_ABI_ASSERT(sizeof(struct netmap_slot) == 16);
NM_ABI_ASSERT(NM_OFS(netmap_ring, buf_ofs) == 0);
NM_ABI_ASSERT(NM_OFS(netmap_ring, num_slots) == 8);
NM_ABI_ASSERT(NM_OFS(netmap_ring, nr_buf_size) == 12);
NM_ABI_ASSERT(NM_OFS(netmap_ring, ringid) == 16);
NM_ABI_ASSERT(NM_OFS(netmap_ring, dir) == 18);
NM_ABI_ASSERT(NM_OFS(netmap_ring, head) == 20);
NM_ABI_ASSERT(NM_OFS(netmap_ring, cur) == 24);
NM_ABI_ASSERT(NM_OFS(netmap_ring, tail) == 28);
NM_ABI_ASSERT(NM_OFS(netmap_ring, flags) == 32);
NM_ABI_ASSERT(NM_OFS(netmap_ring, ts) == 40);
NM_ABI_ASSERT(NM_OFS(netmap_ring, offset_mask) == 56);
NM_ABI_ASSERT(NM_OFS(netmap_ring, buf_align) == 64);
NM_ABI_ASSERT(NM_OFS(netmap_ring, sem) == 128);
NM_ABI_ASSERT(NM_OFS(netmap_ring, slot) == 256);
NM_ABI_ASSERT(NM_OFS(netmap_if, ni_version) == 16);
NM_ABI_ASSERT(NM_OFS(netmap_if, ni_bufs_head) == 32);
NM_ABI_ASSERT(NM_OFS(netmap_if, ni_host_tx_rings) == 36);
NM_ABI_ASSERT(NM_OFS(netmap_if, ni_host_rx_rings) == 40);
NM_ABI_ASSERT(NM_OFS(netmap_if, ring_ofs) == 56);
NM_ABI_ASSERT(sizeof(struct nmreq_option) == 24);
NM_ABI_ASSERT(sizeof(struct nmreq_header) == 88);
NM_ABI_ASSERT(NM_OFS(nmreq_header, nr_name) == 8);
NM_ABI_ASSERT(NM_OFS(nmreq_header, nr_options) == 72);
NM_ABI_ASSERT(NM_OFS(nmreq_header, nr_body) == 80);
NM_ABI_ASSERT(sizeof(struct nmreq_register) == 56);
NM_ABI_ASSERT(NM_OFS(nmreq_register, nr_mem_id) == 32);
NM_ABI_ASSERT(NM_OFS(nmreq_register, nr_mode) == 36);
NM_ABI_ASSERT(NM_OFS(nmreq_register, nr_extra_bufs) == 40);
NM_ABI_ASSERT(NM_OFS(nmreq_register, nr_flags) == 48);
NM_ABI_ASSERT(sizeof(struct nmreq_port_info_get) == 32);
NM_ABI_ASSERT(NM_OFS(nmreq_port_info_get, nr_tx_slots) == 8);
NM_ABI_ASSERT(NM_OFS(nmreq_port_info_get, nr_tx_rings) == 16);
NM_ABI_ASSERT(NM_OFS(nmreq_port_info_get, nr_host_tx_rings) == 20);
NM_ABI_ASSERT(NM_OFS(nmreq_port_info_get, nr_mem_id) == 24);
NM_ABI_ASSERT(sizeof(struct nmreq_vale_attach) == 64);
NM_ABI_ASSERT(sizeof(struct nmreq_vale_detach) == 8);
NM_ABI_ASSERT(sizeof(struct nmreq_vale_list) == 8);
NM_ABI_ASSERT(sizeof(struct nmreq_port_hdr) == 8);
NM_ABI_ASSERT(sizeof(struct nmreq_vale_newif) == 16);
NM_ABI_ASSERT(sizeof(struct nmreq_vale_polling) == 16);
NM_ABI_ASSERT(sizeof(struct nmreq_pools_info) == 64);
NM_ABI_ASSERT(sizeof(struct nmreq_sync_kloop_start) == 8);
NM_ABI_ASSERT(sizeof(struct nmreq_opt_extmem) == 24 + 8 + 64);
NM_ABI_ASSERT(sizeof(struct nmreq_opt_sync_kloop_eventfds) == 24);
NM_ABI_ASSERT(sizeof(struct nm_kloop_eventfds) == 8);
NM_ABI_ASSERT(sizeof(struct nmreq_opt_sync_kloop_mode) == 32);
NM_ABI_ASSERT(sizeof(struct nmreq_opt_csb) == 40);
NM_ABI_ASSERT(sizeof(struct nmreq_opt_offsets) == 24 + 32);
NM_ABI_ASSERT(sizeof(struct nm_csb_atok) == 64);
NM_ABI_ASSERT(sizeof(struct nm_csb_ktoa) == 64);

#undef NM_OFS

#include "netmap_legacy.h"

#endif /* _UAPI_NET_NETMAP_H */
