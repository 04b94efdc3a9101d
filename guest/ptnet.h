/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The ptnet guest driver (ptnet_guest.ko): declarations shared by its
 * files.
 *
 *   memdev.c        ptnetmap-memdev (1b36:000c): the host's netmap region,
 *                   BAR1, becomes a netmap.ko region of this kernel
 *   ptnet.c         ptnet-pci (1b36:000d): probe, MSI-X, PTCTL start/stop,
 *                   removal; the module's init and parameters
 *   ptnet_sync.c    the CSB exchange of one ring, and the netmap port
 *                   whose txsync/rxsync drive it (netmap:ethX)
 *   ptnet_netdev.c  the Linux netdev of the same device, with NAPI
 *
 * One ring, two users: the netdev uses the rings while no netmap
 * application has the port bound; the first binding takes them over
 * (the netdev's NAPI and queues stop), the last one gives them back. The
 * kernel ring (struct netmap_kring) is the single record of the ring's
 * state in either case: rhead/rcur are what the guest handed to the host
 * (csb atok), nr_hwtail and rtail what the host handed back (csb ktoa).
 *
 * Locking: ptnet_dev.lock (a mutex) serialises start/stop and the
 * hand-over between the netdev and netmap; it nests inside netmap_lock
 * and rtnl_lock (netmap_kern.h lists the order). The netdev side runs in
 * NAPI (rx) and under the tx queue lock (tx), the netmap side under each
 * kring->lock; the hand-over makes them exclusive in time.
 */
#ifndef PTNET_GUEST_H
#define PTNET_GUEST_H

#include <linux/interrupt.h>
#include <linux/mutex.h>
#include <linux/netdevice.h>
#include <linux/pci.h>

#include "netmap_kern.h"

/*
 * The ids are shared with other QEMU devices (1b36:000c is also
 * pcie-root-port, 1b36:000d qemu-xhci): the drivers match the class too.
 */
#define PTNET_VENDOR		0x1b36
#define PTNET_MEMDEV_DEVICE	0x000c
#define PTNET_PCI_DEVICE	0x000d

/* memdev BAR0: read-only u32 registers */
#define PTNET_MD_MEMSIZE_LO	0
#define PTNET_MD_MEMSIZE_HI	4
#define PTNET_MD_MEMID		8
#define PTNET_MD_IF_OFS		64
#define PTNET_MD_IF_NUM		68
#define PTNET_MD_IF_SIZE	72
#define PTNET_MD_RING_OFS	76
#define PTNET_MD_RING_NUM	80
#define PTNET_MD_RING_SIZE	84
#define PTNET_MD_BUF_OFS	88
#define PTNET_MD_BUF_NUM	92
#define PTNET_MD_BUF_SIZE	96
#define PTNET_MD_REGS_LEN	100
#define PTNET_MD_MEM_BAR	1

/* ptnet BAR0: a 256-byte I/O window of u32 registers */
#define PTNET_PTFEAT		0
#define PTNET_PTCTL		4
#define PTNET_MAC_LO		8
#define PTNET_MAC_HI		12
#define PTNET_NIFP_OFS		24
#define PTNET_NUM_TX_RINGS	28
#define PTNET_NUM_RX_RINGS	32
#define PTNET_NUM_TX_SLOTS	36
#define PTNET_NUM_RX_SLOTS	40
#define PTNET_VNET_HDR_LEN	44
#define PTNET_HOSTMEMID		48
#define PTNET_CSB_GH_BAH	52
#define PTNET_CSB_GH_BAL	56
#define PTNET_CSB_HG_BAH	60
#define PTNET_CSB_HG_BAL	64
#define PTNET_KICK_BASE		128
#define PTNET_IO_LEN		256
#define PTNET_MAX_RINGS		((PTNET_IO_LEN - PTNET_KICK_BASE) / 4)

#define PTNET_FEAT_VNET_HDR	1
#define PTNET_CTL_START		1
#define PTNET_CTL_STOP		2

/* memdev.c */
int ptnet_memdev_init(void);
void ptnet_memdev_exit(void);
struct netmap_mem *ptnet_memdev_get(u16 host_id);

struct ptnet_dev;

/**
 * struct ptnet_ring - one ring of a ptnet device
 * @pt: the device
 * @kring: the netmap core's ring (the port's krings)
 * @atok: the guest-to-host CSB entry
 * @ktoa: the host-to-guest CSB entry
 * @csb_idx: index in the CSB arrays, and of the KICK register and the
 *	MSI-X vector: tx rings first, then rx rings
 * @irq: the Linux IRQ of the ring's vector, or 0
 * @napi: rx rings: the netdev's NAPI context
 * @kicks: KICK writes (statistics)
 * @bad_ktoa: ktoa values out of range seen (a broken host)
 * @name: the IRQ's name
 */
struct ptnet_ring {
	struct ptnet_dev *pt;
	struct netmap_kring *kring;
	struct nm_csb_atok *atok;
	struct nm_csb_ktoa *ktoa;
	u32 csb_idx;
	int irq;
	struct napi_struct napi;
	u64 kicks;
	u64 bad_ktoa;
	char name[IFNAMSIZ + 16];
};

/**
 * struct ptnet_port - the netmap port of a ptnet device (netmap:ethX)
 * @up: the core's port; @up.pt_nifp is the host port's netmap_if
 * @pt: the device, NULL once it is gone (written by ptnet_port_detach(),
 *	which the core runs under its lock, and under every kring->lock;
 *	read under either: the core also holds its lock around activate and
 *	deactivate)
 */
struct ptnet_port {
	struct netmap_port up;
	struct ptnet_dev *pt;
};

/**
 * struct ptnet_dev - a ptnet-pci device
 * @pdev: the PCI device
 * @netdev: its netdev
 * @io: BAR0
 * @mem: the host region (memdev.c), one reference
 * @port: the netmap port, one reference held by the device
 * @nrings: rings per direction
 * @nslots: slots per ring, per direction
 * @rings: @nrings[t] per direction
 * @csb: the CSB: the atok array, then the ktoa array (DMA-coherent)
 * @csb_dma: its bus address
 * @csb_size: its size
 * @hdr_len: the virtio-net header length in front of every frame, 0 when
 *	the feature is off
 * @lock: @users, @netdev_up, @nm_active, NAPI and queue state
 * @users: start requests that hold the host loop (netdev up, netmap
 *	bindings); PTCTL start on the first, stop after the last
 * @netdev_up: the netdev is open
 * @nm_active: a netmap application owns the rings
 * @dead: the device is being removed: nothing starts any more
 */
struct ptnet_dev {
	struct pci_dev *pdev;
	struct net_device *netdev;
	void __iomem *io;
	struct netmap_mem *mem;
	struct ptnet_port *port;
	u32 nrings[NM_NDIR];
	u32 nslots[NM_NDIR];
	struct ptnet_ring *rings[NM_NDIR];
	void *csb;
	dma_addr_t csb_dma;
	size_t csb_size;
	u32 hdr_len;
	struct mutex lock;
	unsigned int users;
	bool netdev_up;
	bool nm_active;
	bool dead;
};

static inline u32 ptnet_ioread(struct ptnet_dev *pt, u32 reg)
{
	return ioread32(pt->io + reg);
}

static inline void ptnet_iowrite(struct ptnet_dev *pt, u32 reg, u32 val)
{
	iowrite32(val, pt->io + reg);
}

/* ptnet.c */
extern bool ptnet_vnet_hdr;
extern int ptnet_napi_weight;
int ptnet_get(struct ptnet_dev *pt);
void ptnet_put(struct ptnet_dev *pt);

/* ptnet_sync.c */
void ptnet_ring_publish(struct ptnet_ring *r, u32 head, u32 cur);
void ptnet_ring_kick(struct ptnet_ring *r);
bool ptnet_ring_pull(struct ptnet_ring *r);
bool ptnet_ring_arm(struct ptnet_ring *r, u32 cur);
void ptnet_ring_disarm(struct ptnet_ring *r);
int ptnet_ring_state_load(struct ptnet_ring *r);
void *ptnet_buf(struct ptnet_ring *r, u32 idx);
int ptnet_port_create(struct ptnet_dev *pt, u64 nifp_ofs);
void ptnet_port_destroy(struct ptnet_dev *pt);

/* ptnet_netdev.c */
struct net_device *ptnet_netdev_alloc(struct ptnet_dev *pt);
void ptnet_netdev_napi_add(struct ptnet_dev *pt);
void ptnet_netdev_quiesce(struct ptnet_dev *pt);
void ptnet_netdev_resume(struct ptnet_dev *pt);
irqreturn_t ptnet_irq(int irq, void *data);

#endif /* PTNET_GUEST_H */
