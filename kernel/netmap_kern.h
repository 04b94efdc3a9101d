/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Declarations shared by the files of netmap.ko.
 *
 * The objects, from the outside in:
 *
 *   struct netmap_priv   one per open /dev/netmap (dev.c). It binds at most
 *                        one port, owns a netmap_if in the port's region and
 *                        a range of the port's rings (bind.c).
 *   struct netmap_port   something with rings that can be bound: a pipe end
 *                        (pipe.c), a null port (null.c), a NIC (generic.c),
 *                        a VALE port (vale.c). Ports are refcounted; those
 *                        standing for a netdev of their own sit in a
 *                        registry (port.c).
 *   struct netmap_kring  the kernel side of one ring: the authoritative
 *                        pointers, the validated shadow of what userspace
 *                        wrote, a lock and a wait queue (ring.c).
 *   struct netmap_mem    a memory region: the netmap_if, ring and buffer
 *                        pools userspace maps with one mmap (mem.c).
 *
 * Lock order (outermost first); every lock is documented where it lives:
 *
 *   priv->lock          (dev.c)   control requests of one descriptor;
 *                                 SYNC_KLOOP_START drops it while its
 *                                 loop runs (kloop.c)
 *   nm_kloops_lock      (kloop.c) the running kloops (a leaf mutex)
 *   netmap_lock         (port.c)  registry, port refs, bindings, ring memory
 *   rtnl_lock           (Linux)   NIC ports (generic.c) hook and unhook
 *                                 netdevs with it; never take netmap_lock
 *                                 while holding it
 *   ptnet->lock         (guest/)  start and stop of a ptnet guest
 *                                 device; inside netmap_lock and
 *                                 rtnl_lock, never around either
 *   mem->lock           (mem.c)   the pools of one region
 *   netmap_mem_table    (mem.c)   region ids; final put of a region
 *   kloop ring lock     (kloop.h) one CSB exchange of a ring (spinlock);
 *                                 inside an eventfd's wait-queue lock
 *                                 when a DIRECT kick syncs (kloop_wake.c)
 *   kring->lock         (ring.c)  the sync state of one ring (spinlock)
 *   vale_dst.lock       (vale.h)  VALE deliveries into one ring (BH-safe
 *                                 spinlock): taken inside the source ring's
 *                                 kring->lock, and outside the kring->lock
 *                                 of a NIC tx ring it fills
 *   nm_mon_port.lock    (monitor.c) the producers of one monitor's rx
 *                                 rings (IRQ-safe leaf spinlock): inside
 *                                 a watched ring's kring->lock, a
 *                                 vale_dst.lock or a pipe sender's
 *                                 kring->lock
 *
 * User memory is touched (and may fault, taking mmap_lock) only with
 * priv->lock held or no lock at all, never under the locks that follow it.
 * The paths entered with mmap_lock held take no netmap mutex but the leaf
 * netmap_mem_table (munmap dropping the last reference to a region); the
 * fault handler of a mapping takes none.
 */
#ifndef NETMAP_KERN_H
#define NETMAP_KERN_H

#include <linux/atomic.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/rcupdate.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/uidgid.h>
#include <linux/wait.h>

#include <net/netmap.h>

struct file;
struct user_namespace;
struct vm_area_struct;

/* Internal ring direction, an array index; ring->dir uses NR_TX/NR_RX. */
enum nm_txrx {
	NM_TX = 0,
	NM_RX = 1,
	NM_NDIR = 2,
};

#define for_each_dir(t)	for ((t) = NM_TX; (t) < NM_NDIR; (t)++)

/* Geometry limits of the rings we create. */
#define NM_DEFAULT_SLOTS	1024
#define NM_MIN_SLOTS		2
#define NM_MAX_SLOTS		32768
#define NM_MAX_RINGS		32	/* hardware rings per direction */

/* ---------------------------------------------------------------------- */
/* mem.c: memory regions                                                   */
/* ---------------------------------------------------------------------- */

enum nm_pool_id {
	NM_POOL_IF = 0,
	NM_POOL_RING = 1,
	NM_POOL_BUF = 2,
	NM_NPOOLS = 3,
};

/**
 * struct netmap_pool - one pool of equally sized objects inside a region
 * @offset: byte offset of object 0 from the start of the region
 * @objtotal: number of objects, the reserved ones included
 * @objsize: bytes per object
 * @reserved: objects 0..reserved-1 exist but are never handed out
 * @in_use: objects handed out and not yet freed
 * @hint: where the next free-object search starts
 * @bitmap: one bit per object, set when allocated or reserved
 * @unusable: NULL, or one bit per object the backing cannot hold (set in
 *	@bitmap too; never handed out nor freed)
 * @nunusable: objects set in @unusable
 *
 * Protected by the lock of the region that holds the pool.
 */
struct netmap_pool {
	u64 offset;
	u32 objtotal;
	u32 objsize;
	u32 reserved;
	u32 in_use;
	u32 hint;
	unsigned long *bitmap;
	unsigned long *unusable;
	u32 nunusable;
};

struct netmap_mem;
struct vm_fault;

/**
 * struct netmap_mem_backing - where the bytes of a region come from
 * @init: set the backing up for a new region (mem->size is known)
 * @fini: release everything; no mapping or kernel address is left
 * @map: a kernel address for [ofs, ofs + len), providing the memory if
 *	needed; NULL when it cannot. mem->lock held.
 * @unmap: forget an address @map returned. mem->lock held.
 * @mmap: prepare a new user mapping (flags, or map it all at once)
 * @fault: provide the page at vmf->pgoff of a user mapping; NULL when
 *	@mmap maps everything
 * @page: the page at @pgoff of the region for kernel access from any
 *	context, without a lock, provided with @gfp if missing; NULL when
 *	it cannot be had. The data path reaches buffers through it.
 * @kaddr: optional, for a region mapped into the kernel as a whole (no
 *	struct page behind it, e.g. a PCI BAR): the kernel address of byte
 *	@ofs, from any context; used instead of @page when set.
 * @obj_ok: optional: whether an object at [ofs, ofs + len) can be used;
 *	asked once per object when the region is created (NULL: all can)
 *
 * Regions are sparse kernel memory (mem.c), in a ptnet guest the host's
 * region seen through a PCI BAR (mem_ext.c), or user memory given with
 * the EXTMEM option (extmem.c).
 */
struct netmap_mem_backing {
	int (*init)(struct netmap_mem *mem);
	void (*fini)(struct netmap_mem *mem);
	void *(*map)(struct netmap_mem *mem, u64 ofs, size_t len);
	void (*unmap)(struct netmap_mem *mem, void *addr);
	int (*mmap)(struct netmap_mem *mem, struct vm_area_struct *vma);
	vm_fault_t (*fault)(struct netmap_mem *mem, struct vm_fault *vmf);
	struct page *(*page)(struct netmap_mem *mem, unsigned long pgoff,
			     gfp_t gfp);
	void *(*kaddr)(struct netmap_mem *mem, u64 ofs);
	bool (*obj_ok)(struct netmap_mem *mem, u64 ofs, u32 len);
};

/**
 * struct netmap_mem - a memory region: the pools userspace maps at once
 * @ref: references: ports using it, bindings, mappings
 * @id: the nr_mem_id userspace sees; 1 is the global region
 * @is_private: not the global region (reported as NI_PRIV_MEM)
 * @size: bytes userspace maps (nr_memsize), a multiple of PAGE_SIZE
 * @lock: protects @pools and the kernel mappings of objects
 * @backing: how the bytes are provided and mapped
 * @backing_data: the backing's own state
 * @pools: the netmap_if, ring and buffer pools, in that order in memory
 * @kva: per page of the region, its kernel address, NULL until the data
 *	path first needs it (netmap_buf_at()); filled without a lock, each
 *	entry written once with the one value it can have; NULL when the
 *	backing has no @page
 * @kva_pages: entries of @kva (0 without it)
 */
struct netmap_mem {
	struct kref ref;
	u16 id;
	bool is_private;
	u64 size;
	struct mutex lock;
	const struct netmap_mem_backing *backing;
	void *backing_data;
	struct netmap_pool pools[NM_NPOOLS];
	void **kva;
	unsigned long kva_pages;
	/* netdevs' frames pass here: naming the region needs it (perm.c) */
	struct user_namespace *admin_ns;	/* under lock */
};

#define NM_GLOBAL_MEM_ID	1
#define NM_RESERVED_BUFS	2	/* buffers 0 and 1 are never handed out */

int netmap_mem_init(void);
void netmap_mem_exit(void);
struct netmap_mem *netmap_mem_get_global(void);
struct netmap_mem *netmap_mem_new_private(void);

/*
 * The least pools of a private region, which are also the EXTMEM option's
 * defaults, and the pipes a port's private region has room for.
 */
#define NM_PRIV_IF_NUM		2
#define NM_PRIV_IF_SIZE		1024
#define NM_PRIV_RING_NUM	4
#define NM_PRIV_RING_SIZE	(5 * PAGE_SIZE)
#define NM_PRIV_BUF_NUM		4098
#define NM_PRIV_BUF_SIZE	2048
#define NM_PRIV_PIPES		2

/* What a port's own region must hold: netmap_mem_new_fitted(). */
struct netmap_mem_fit {
	u32 rings[NM_NDIR];
	u32 slots[NM_NDIR];
	u32 extra_bufs;
};

struct netmap_mem *netmap_mem_new_fitted(const struct netmap_mem_fit *fit);
struct netmap_mem *netmap_mem_find(u16 id);
void netmap_mem_get(struct netmap_mem *mem);
void netmap_mem_put(struct netmap_mem *mem);
int netmap_mem_mmap(struct netmap_mem *mem, struct vm_area_struct *vma);
void netmap_mem_pools_info(struct netmap_mem *mem,
			   struct nmreq_pools_info *info);
u32 netmap_mem_max_slots(const struct netmap_mem *mem);
u32 netmap_mem_max_if_rings(const struct netmap_mem *mem);
struct netmap_mem *netmap_mem_new_ext(const struct netmap_mem_backing *b,
				      void *data,
				      const struct nmreq_pools_info *info);
struct netmap_mem *netmap_mem_new_user(const struct netmap_mem_backing *b,
				       void *data,
				       const struct nmreq_pools_info *info,
				       const u32 reserved[NM_NPOOLS]);
/* mem_ext.c: a region another kernel allocated, seen through a BAR */
struct netmap_mem *netmap_mem_new_iomem(phys_addr_t base, u64 len,
					const struct nmreq_pools_info *info);

/*
 * extmem.c: regions in user memory (the EXTMEM option of REGISTER). While
 * a REGISTER with that option looks its port up (netmap_lock held),
 * netmap_extmem_pending is the option's region, which the ports the lookup
 * creates take through netmap_mem_new_port(); NULL otherwise.
 */
struct nmreq_option;
extern struct netmap_mem *netmap_extmem_pending;
struct netmap_mem *netmap_extmem_get(struct nmreq_option *opt);
struct netmap_mem *netmap_mem_new_port(const struct netmap_mem_fit *fit);

/* Objects; the caller holds mem->lock (netmap_mem_lock()). */
void netmap_mem_lock(struct netmap_mem *mem);
void netmap_mem_unlock(struct netmap_mem *mem);
int netmap_obj_alloc_locked(struct netmap_mem *mem, enum nm_pool_id p);
bool netmap_obj_free_locked(struct netmap_mem *mem, enum nm_pool_id p,
			    u32 idx);
u32 netmap_obj_free_count_locked(const struct netmap_mem *mem,
				 enum nm_pool_id p);
void *netmap_obj_map_locked(struct netmap_mem *mem, enum nm_pool_id p,
			    u32 idx);
void netmap_obj_unmap_locked(struct netmap_mem *mem, void *addr);
u32 *netmap_buf_link_locked(struct netmap_mem *mem, u32 idx);

/* Buffer bytes from the data path: any context, no lock. */
void *netmap_buf_chunk(struct netmap_mem *mem, u32 idx, u32 off, u32 *len);
int netmap_buf_read(struct netmap_mem *mem, u32 idx, u32 off, void *dst,
		    u32 len);
int netmap_buf_write(struct netmap_mem *mem, u32 idx, u32 off,
		     const void *src, u32 len);

static inline u64 netmap_obj_offset(const struct netmap_mem *mem,
				    enum nm_pool_id p, u32 idx)
{
	const struct netmap_pool *pool = &mem->pools[p];

	return pool->offset + (u64)idx * pool->objsize;
}

/**
 * struct netmap_bufs - a region's buffer pool as the data path reaches it
 * @mem: the region
 * @kva: its page table (mem->kva)
 * @kva_pages: entries of @kva
 * @base: offset of buffer 0 in the region
 * @objsize: bytes per buffer
 *
 * A copy a loop keeps in its own variables, so that its stores into
 * slots and buffers never make the compiler read the region again.
 */
struct netmap_bufs {
	struct netmap_mem *mem;
	void **kva;
	unsigned long kva_pages;
	u64 base;
	u32 objsize;
};

static inline void netmap_bufs_init(struct netmap_bufs *b,
				    struct netmap_mem *mem)
{
	b->mem = mem;
	b->kva = mem->kva;
	b->kva_pages = mem->kva_pages;
	b->base = mem->pools[NM_POOL_BUF].offset;
	b->objsize = mem->pools[NM_POOL_BUF].objsize;
}

/**
 * netmap_bufs_at() - netmap_buf_chunk() for the hot data path
 * @b: the buffer pool
 * @idx: a valid buffer index
 * @off: a byte offset inside the buffer
 * @len: as for netmap_buf_chunk()
 *
 * One load from the region's page table once the page has been reached
 * from the kernel; the first access, and regions without the table, go
 * through netmap_buf_chunk().
 *
 * Return: the address, or NULL when memory is short.
 */
static inline void *netmap_bufs_at(const struct netmap_bufs *b, u32 idx,
				   u32 off, u32 *len)
{
	u64 ofs = b->base + (u64)idx * b->objsize + off;
	unsigned long pg = ofs >> PAGE_SHIFT;
	u32 room = PAGE_SIZE - offset_in_page(ofs);
	void *kva = NULL;

	if (likely(pg < b->kva_pages))
		kva = READ_ONCE(b->kva[pg]);
	if (unlikely(!kva))
		return netmap_buf_chunk(b->mem, idx, off, len);
	if (*len > room)
		*len = room;
	return kva + offset_in_page(ofs);
}

/* netmap_bufs_at() for a single access. */
static inline void *netmap_buf_at(struct netmap_mem *mem, u32 idx, u32 off,
				  u32 *len)
{
	struct netmap_bufs b;

	netmap_bufs_init(&b, mem);
	return netmap_bufs_at(&b, idx, off, len);
}

/**
 * struct netmap_uint_param - a module parameter bounded to [@min, @max]
 * @val: the value (READ_ONCE() it)
 * @min: the smallest value accepted
 * @max: the largest value accepted
 *
 * module_param_cb(name, &netmap_uint_param_ops, &param, 0644) (param.c).
 */
struct netmap_uint_param {
	unsigned int val;
	unsigned int min;
	unsigned int max;
};

extern const struct kernel_param_ops netmap_uint_param_ops;

/* A buffer index userspace may legitimately hold in a slot. */
static inline bool netmap_buf_idx_ok(const struct netmap_mem *mem, u32 idx)
{
	const struct netmap_pool *pool = &mem->pools[NM_POOL_BUF];

	return idx >= NM_RESERVED_BUFS && idx < pool->objtotal;
}

/* ---------------------------------------------------------------------- */
/* ring.c: kernel rings                                                    */
/* ---------------------------------------------------------------------- */

struct netmap_port;
struct netmap_mon_kring;

/**
 * struct netmap_kring - the kernel side of one netmap ring
 * @ring: the shared ring header and slots, inside the region; NULL while
 *	the port is inactive
 * @port: the port the ring belongs to
 * @nm_sync: the port's txsync or rxsync
 * @num_slots: slots in the ring (the kernel never reads ring->num_slots)
 * @ring_id: index among the port's rings of this direction
 * @tx: NM_TX or NM_RX
 * @ring_idx: ring-pool object holding @ring
 * @nbufs: buffer-pool size of the region, for index checks
 * @buf_size: buffer size of the region, for length checks
 * @lock: serialises syncs and reinits of this ring; never sleeps inside
 * @nr_hwcur: tx: next slot the port consumes; rx: next slot to release
 * @nr_hwtail: first slot the kernel still owns (published as ring->tail)
 * @rhead: last validated ring->head
 * @rcur: last validated ring->cur
 * @rtail: last tail published to userspace
 * @peer_tail: pipe rx rings: where the peer's txsync stopped filling;
 *	written by the peer under the peer's lock (release/acquire). Monitor
 *	rx rings: where the watched rings stopped filling (monitor.c)
 * @peer: pipes: the ring at the other end (tx <-> rx)
 * @borrows: pipe rx rings: the slots show buffers the @peer tx ring owns,
 *	so creating or deleting the ring allocates or frees none (pipe.c)
 * @host: a host ring (index @ring_id >= port->nrings[@tx])
 * @mon: monitors watching this ring (monitor.c); changed under
 *	netmap_lock and @lock, read under @lock or, by the deliveries into
 *	an rx ring, under RCU (netmap_monitor_landed())
 * @wq: pollers of this ring
 * @users: bindings that include this ring (netmap_lock)
 * @exclusive: bound with NR_EXCLUSIVE (netmap_lock)
 * @csb: the ring's pointers travel through a CSB (csb.c): only the
 *	binding's kloop syncs it, the ioctl and poll syncs get -EBUSY
 *	(changed under @lock)
 * @offset_mask: the bits of a slot's ptr that carry its offset; 0 when
 *	the ring was bound without the OFFSETS option (offsets.c)
 * @offset_max: the largest offset, at most @buf_size (offsets.c)
 */
struct netmap_kring {
	struct netmap_ring *ring;
	struct netmap_port *port;
	int (*nm_sync)(struct netmap_kring *kring);
	u32 num_slots;
	u32 ring_id;
	enum nm_txrx tx;
	u32 ring_idx;
	u32 nbufs;
	u32 buf_size;

	spinlock_t lock;
	u32 nr_hwcur;
	u32 nr_hwtail;
	u32 rhead;
	u32 rcur;
	u32 rtail;
	u32 peer_tail;

	struct netmap_kring *peer;
	bool borrows;
	bool host;
	struct netmap_mon_kring __rcu *mon;
	wait_queue_head_t wq;

	unsigned int users;
	bool exclusive;
	bool csb;
	u64 offset_mask;
	u64 offset_max;
};

/*
 * The slots of a ring and the ring_ofs[] of a netmap_if, reached through
 * the struct size rather than the zero-length arrays, which the kernel's
 * strict flexible-array rules treat as empty.
 */
static_assert(sizeof(struct netmap_ring) == 256);
static_assert(sizeof(struct netmap_if) == 56);

static inline struct netmap_slot *nm_ring_slots(struct netmap_ring *ring)
{
	return (struct netmap_slot *)((char *)ring + sizeof(*ring));
}

static inline ssize_t *nm_if_ring_ofs(struct netmap_if *nifp)
{
	return (ssize_t *)((char *)nifp + sizeof(*nifp));
}

static inline u32 nm_next(u32 i, u32 n)
{
	return unlikely(i + 1 == n) ? 0 : i + 1;
}

/* Slots from @from (included) to @to (excluded), going forward. */
static inline u32 nm_dist(u32 from, u32 to, u32 n)
{
	return to >= from ? to - from : to + n - from;
}

/* @i moved back by @k < @n slots. */
static inline u32 nm_back(u32 i, u32 k, u32 n)
{
	return i >= k ? i - k : i + n - k;
}

/* Wake the pollers of a ring, skipping the lock when nobody sleeps. */
static inline void netmap_kring_wake(struct netmap_kring *kring)
{
	if (wq_has_sleeper(&kring->wq))
		wake_up_interruptible_poll(&kring->wq, EPOLLIN | EPOLLOUT);
}

void netmap_kring_init(struct netmap_kring *kring, struct netmap_port *port,
		       enum nm_txrx t, u32 ring_id, u32 num_slots);
int netmap_port_rings_create(struct netmap_port *port);
void netmap_port_rings_delete(struct netmap_port *port);
void netmap_kring_user_reset(struct netmap_kring *kring);
int netmap_kring_sync(struct netmap_kring *kring);
int netmap_kring_sync_ptrs(struct netmap_kring *kring, u32 head, u32 cur,
			   u32 *hwcur, u32 *hwtail);

/* ---------------------------------------------------------------------- */
/* port.c: ports and their registry                                        */
/* ---------------------------------------------------------------------- */

/**
 * struct netmap_port_ops - what a kind of port does
 * @activate: the first binding arrives: create the rings. May be NULL for
 *	ports that cannot be bound (they have no rings).
 * @deactivate: the last binding is gone: delete the rings.
 * @txsync: push the slots userspace handed over (kring->lock held).
 * @rxsync: release slots, report new packets (kring->lock held).
 * @hdr_set: set the virtio-net header length; NULL: only 0 is valid.
 * @hdr_get: the virtio-net header length; NULL: 0.
 * @dtor: the last reference is gone (usually: free the port, after
 *	netmap_port_fini()).
 * @irqsafe_sync: the syncs may also run with IRQs disabled (they never
 *	enable BHs nor take locks that IRQ handlers take); lets a kloop's
 *	DIRECT modes sync inside an eventfd wake-up (kloop.c).
 * @owner: the module these ops live in, when it is not netmap.ko (a
 *	driver's ports, see netmap_port_publish()); every core reference to
 *	the port holds it, so it cannot be unloaded under them. NULL here.
 *
 * All but the syncs run with netmap_lock held.
 */
struct netmap_port_ops {
	int (*activate)(struct netmap_port *port);
	void (*deactivate)(struct netmap_port *port);
	int (*txsync)(struct netmap_kring *kring);
	int (*rxsync)(struct netmap_kring *kring);
	int (*hdr_set)(struct netmap_port *port, u32 len);
	u32 (*hdr_get)(struct netmap_port *port);
	void (*dtor)(struct netmap_port *port);
	bool irqsafe_sync;
	struct module *owner;
};

/**
 * struct netmap_port - anything with rings that a descriptor can bind
 * @name: the port name, NUL-terminated (ni_name gets its first 15 bytes)
 * @ops: the kind of port
 * @mem: the region holding its rings; the port holds a reference, or its
 *	owner (a pipe's parent) does
 * @refs: lookups and bindings that hold the port (netmap_lock)
 * @users: bindings (netmap_lock); rings exist while it is non-zero
 * @nrings: hardware rings per direction
 * @nhost: host rings reported in netmap_if per direction (NICs change
 *	theirs only while no binding exists, generic.c)
 * @host_rings: the host rings exist (krings[t][nrings[t] + i]) and can be
 *	bound with NR_REG_SW, NR_REG_NIC_SW and NR_REG_ONE_SW; otherwise
 *	they are only reported (pipes)
 * @host_reported: REGISTER and PORT_INFO_GET answer with @nhost (NICs);
 *	other ports answer 0/0, whatever their netmap_if says
 * @nslots: slots per ring, per direction
 * @krings: the rings, @nrings[t] of each direction
 * @node: entry in the registry of named ports, when listed
 * @pipes: pipes whose parent this port is (netmap_lock)
 * @pt_nifp: a ptnet guest port (guest/): the host port's netmap_if in
 *	@mem, which every binding shares; its rings and buffers are the
 *	host's, so no extra buffers, pipes or monitors. NULL elsewhere.
 * @pt_nifp_ofs: the offset of @pt_nifp in @mem
 * @admin_ns: a port that stands for a netdev: the user namespace owning
 *	the netdev's network namespace, in which every use of the port needs
 *	CAP_NET_ADMIN (perm.c); NULL for the others
 * @net_cookie: registered for one network namespace only, this one's
 *	cookie; 0 otherwise (port.c)
 */
struct netmap_port {
	char name[NETMAP_REQ_IFNAMSIZ];
	const struct netmap_port_ops *ops;
	struct netmap_mem *mem;
	unsigned int refs;
	unsigned int users;
	u32 nrings[NM_NDIR];
	u32 nhost[NM_NDIR];
	bool host_rings;
	bool host_reported;
	u32 nslots[NM_NDIR];
	struct netmap_kring *krings[NM_NDIR];
	struct list_head node;
	struct list_head pipes;
	struct netmap_if *pt_nifp;
	u64 pt_nifp_ofs;
	struct user_namespace *admin_ns;
	u64 net_cookie;
};

extern struct mutex netmap_lock;

/* Kernel rings of a direction: the hardware ones, then the host ones. */
static inline u32 netmap_port_nkrings(const struct netmap_port *port,
				      enum nm_txrx t)
{
	return port->nrings[t] + (port->host_rings ? port->nhost[t] : 0);
}

void netmap_port_init(struct netmap_port *port,
		      const struct netmap_port_ops *ops);
void netmap_port_fini(struct netmap_port *port);
int netmap_port_krings_alloc(struct netmap_port *port);
void netmap_port_krings_free(struct netmap_port *port);
void netmap_port_get(struct netmap_port *port);
void netmap_port_put(struct netmap_port *port);
void netmap_port_register(struct netmap_port *port);
struct net;
void netmap_port_register_net(struct netmap_port *port, const struct net *net);
void netmap_port_unregister(struct netmap_port *port);
void netmap_port_publish(struct netmap_port *port);
void netmap_port_retire(struct netmap_port *port,
			void (*detach)(struct netmap_port *port));
struct netmap_port *netmap_port_find(const char *name);
bool netmap_port_name_ok(const char *name);
bool netmap_is_vale_name(const char *name);
int netmap_port_lookup(const char *name, const struct nmreq_register *reg,
		       struct netmap_port **portp);
u32 netmap_bound_value(u32 v, u32 dflt, u32 lo, u32 hi);
void netmap_port_exit(void);

/* null.c */
int netmap_null_get(const char *name, const struct nmreq_register *reg,
		    struct netmap_port **portp);

/* pipe.c */
int netmap_pipe_lookup(const char *name, const struct nmreq_register *reg,
		       struct netmap_port **portp);

/* generic.c: NIC and host-stack ports on any netdev */
int netmap_generic_lookup(const char *name, const struct nmreq_register *reg,
			  struct netmap_port **portp);
int netmap_generic_init(void);
void netmap_generic_exit(void);

/* monitor.c: monitor ports */
int netmap_monitor_lookup(const char *name, const struct nmreq_register *reg,
			  struct netmap_port **portp);
void netmap_monitor_parent_off(struct netmap_port *port);
void netmap_monitor_landed_slow(struct netmap_kring *kring, u32 from, u32 to);
bool netmap_monitor_is_zcopy(const struct netmap_port *port);

/*
 * Slots [@from, @to) were just filled in rx ring @kring, not yet published
 * to its rxsync: its copy monitors take them (any context).
 */
static inline void netmap_monitor_landed(struct netmap_kring *kring, u32 from,
					 u32 to)
{
	if (unlikely(rcu_access_pointer(kring->mon)))
		netmap_monitor_landed_slow(kring, from, to);
}

/* vale*.c: VALE switches (vale.h has the overview) */
struct nmreq;
int netmap_vale_lookup(const char *name, const struct nmreq_register *reg,
		       struct netmap_port **portp);
int netmap_vale_newif(const char *name, struct nmreq_vale_newif *req);
int netmap_vale_delif(const char *name);
int netmap_vale_attach(const char *name, struct nmreq_vale_attach *req);
int netmap_vale_detach(const char *name, struct nmreq_vale_detach *req);
int netmap_vale_list(char *name, u16 *bridge, u32 *port);
int netmap_vale_polling(const char *name, bool on,
			const struct nmreq_vale_polling *req);
int netmap_vale_legacy(struct nmreq *nmr);
int netmap_vale_autoif(const char *name, const struct nmreq_register *reg,
		       struct netmap_port **portp);
bool netmap_vale_owns(struct netmap_port *port);
void netmap_vale_exit(void);

/* ---------------------------------------------------------------------- */
/* bind.c: what a descriptor holds                                         */
/* ---------------------------------------------------------------------- */

/**
 * struct netmap_priv - per-descriptor state of /dev/netmap
 * @lock: serialises the control requests made on this descriptor
 * @bound: the port this descriptor is bound to (priv->lock); set by
 *	netmap_register() and cleared if the request then fails
 * @port: @bound, published once the request completed: NULL until then,
 *	constant until release. Stored with smp_store_release() after every
 *	other field, so the sync, poll and mmap paths read it locklessly
 *	with smp_load_acquire().
 * @mem: the bound port's region; the binding holds a reference
 * @nifp: this descriptor's netmap_if, in @mem
 * @nifp_idx: its if-pool object index
 * @nifp_ofs: its offset in @mem (nr_offset)
 * @first: first bound ring per direction
 * @last: one past the last bound ring per direction
 * @flags: the NR_* flags of the registration
 * @csb: the CSB the bound rings are driven through, or NULL (csb.c;
 *	priv->lock)
 * @kloop: the kloop running on this descriptor, or NULL (kloop.c;
 *	priv->lock)
 */
struct netmap_priv {
	struct mutex lock;
	struct netmap_port *bound;
	struct netmap_port *port;
	struct netmap_mem *mem;
	struct netmap_if *nifp;
	u32 nifp_idx;
	u64 nifp_ofs;
	u32 first[NM_NDIR];
	u32 last[NM_NDIR];
	u64 flags;
	struct netmap_csb *csb;
	struct netmap_kloop *kloop;
};

static inline struct netmap_port *netmap_priv_port(struct netmap_priv *priv)
{
	return smp_load_acquire(&priv->port);
}

int netmap_ring_range(struct netmap_port *port,
		      const struct nmreq_register *reg,
		      u32 first[NM_NDIR], u32 last[NM_NDIR]);
int netmap_register(struct netmap_priv *priv, const char *name,
		    struct nmreq_register *reg);
int netmap_register_mem(struct netmap_priv *priv, const char *name,
			struct nmreq_register *reg, struct netmap_mem *ext);
void netmap_register_finish(struct netmap_priv *priv, int err);
void netmap_unregister(struct netmap_priv *priv);
void netmap_port_fill_info(struct netmap_port *port,
			   struct nmreq_register *reg);
int netmap_priv_sync(struct netmap_priv *priv, enum nm_txrx t);

/* poll.c */
int netmap_poll_init(void);
__poll_t netmap_priv_poll(struct netmap_priv *priv, struct file *file,
			  poll_table *wait);

/* ---------------------------------------------------------------------- */
/* offsets.c: per-slot offsets (the OFFSETS option of REGISTER)            */
/* ---------------------------------------------------------------------- */

int netmap_offsets_register(struct netmap_priv *priv,
			    struct nmreq_option *opt);
void netmap_offsets_reset(struct netmap_kring *kring);

/*
 * The offset a slot's ptr (@ptr, or @slot's, read once) gives in its
 * buffer: under the ring's mask, clamped to the ring's maximum (so it is
 * never above buf_size).
 */
static inline u32 nm_ptr_offset(const struct netmap_kring *kring, u64 ptr)
{
	u64 ofs = ptr & READ_ONCE(kring->offset_mask);

	return min_t(u64, ofs, READ_ONCE(kring->offset_max));
}

static inline u32 nm_slot_offset(const struct netmap_kring *kring,
				 const struct netmap_slot *slot)
{
	return nm_ptr_offset(kring, READ_ONCE(slot->ptr));
}

/*
 * Whether a tx slot with @ptr and @len (each read once by the caller) has
 * its offset within the ring's maximum and its length behind it.
 */
static inline bool nm_slot_fits(const struct netmap_kring *kring, u64 ptr,
				u32 len)
{
	u64 ofs = ptr & READ_ONCE(kring->offset_mask);

	return ofs <= READ_ONCE(kring->offset_max) &&
	       len <= kring->buf_size - ofs;
}

/* Bytes of a buffer of @kring from @ofs (at most buf_size) on. */
static inline u32 nm_buf_room(const struct netmap_kring *kring, u32 ofs)
{
	return kring->buf_size - ofs;
}

/* ---------------------------------------------------------------------- */
/* csb.c and kloop.c: the passthrough host side                            */
/* ---------------------------------------------------------------------- */

int netmap_csb_enable(struct netmap_priv *priv, struct nmreq_option *opt);
int netmap_csb_register(struct netmap_priv *priv, struct nmreq_option *opt);
void netmap_csb_release(struct netmap_priv *priv);
int netmap_kloop_start(struct netmap_priv *priv,
		       const struct nmreq_sync_kloop_start *req,
		       struct nmreq_option *eventfds,
		       struct nmreq_option *mode);
int netmap_kloop_stop(struct netmap_priv *priv, const char *name);
void netmap_kloop_flush(struct netmap_priv *priv, fl_owner_t owner);

/* ---------------------------------------------------------------------- */
/* ctrl.c and legacy.c: control requests                                   */
/* ---------------------------------------------------------------------- */

long netmap_ioctl_ctrl(struct netmap_priv *priv, void __user *arg);
int netmap_req_port_info(const char *name, struct nmreq_port_info_get *info);
int netmap_req_hdr_set(const char *name, u32 len);
int netmap_req_hdr_get(const char *name, u32 *len);
long netmap_ioctl_legacy(struct netmap_priv *priv, unsigned int cmd,
			 void __user *arg);

/* ---------------------------------------------------------------------- */
/* dev.c and stats.c                                                       */
/* ---------------------------------------------------------------------- */

int netmap_dev_init(void);
void netmap_dev_exit(void);

/* perm.c: who may use netmap */
struct net;
int netmap_dev_node_perm(umode_t *mode, kuid_t *uid, kgid_t *gid);
int netmap_net_admin(const struct net *net);
void netmap_port_set_admin(struct netmap_port *port, const struct net *net);
int netmap_mem_admin(struct netmap_mem *mem);
int netmap_port_admin(const struct netmap_port *port);

/*
 * Leak accounting, read-only under /sys/module/netmap/parameters/. Every
 * counter is zero when nothing uses the module.
 */
extern atomic_t netmap_priv_count;	/* live struct netmap_priv */
extern atomic_t netmap_port_count;	/* live ports */
extern atomic_t netmap_mem_count;	/* live regions */
extern atomic_t netmap_if_in_use;	/* netmap_if objects, all regions */
extern atomic_t netmap_ring_in_use;	/* ring objects, all regions */
extern atomic_t netmap_buf_in_use;	/* buffers, reserved ones excluded */
extern atomic_t netmap_csb_count;	/* enabled CSBs (pinned user pages) */
extern atomic_t netmap_extmem_pages;	/* user pages pinned by regions */
extern atomic_t netmap_kloop_count;	/* running kloops */
extern atomic_t netmap_kloop_errors;	/* bad CSB entries seen (not a leak) */

#endif /* NETMAP_KERN_H */
