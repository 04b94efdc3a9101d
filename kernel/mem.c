// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Memory regions.
 *
 * A region is one contiguous range of bytes that userspace maps with a
 * single mmap at offset 0. It holds three pools, one after the other, each
 * starting on a page boundary:
 *
 *   [ netmap_if objects | netmap_ring objects | buffers ]
 *
 * Userspace finds everything through offsets: nr_offset leads to its
 * netmap_if, ring_ofs[] (relative to the netmap_if) to the rings, and
 * ring->buf_ofs (relative to the ring) to buffer 0 of the buffer pool.
 * Object 0 of the if and ring pools and buffers 0 and 1 are reserved, so
 * that no valid offset or buffer index is ever 0.
 *
 * Region 1 is the global region. Others are private (pipe parents, VALE
 * ports, user memory given with the EXTMEM option: extmem.c). A region is created with the geometry the module
 * parameters have at that moment.
 *
 * Regions are sparse: a page exists only once the kernel or userspace
 * touches it. The kernel populates the pages of the objects it writes
 * (netmap_if objects, rings, the link word of extra buffers); the pages of
 * buffers appear when userspace first touches them, through the fault
 * handler of its mapping. So a region costs what is used of it, and its
 * geometry can be generous. Pages stay until the region is destroyed.
 *
 * Lifetime: a region is refcounted; ports, bindings and every mapping of
 * it hold references. The last put removes it from the id table and frees
 * it, also for the global region, which is recreated on next use.
 *
 * Locking: netmap_mem_table (a mutex) protects the id table and makes the
 * final put atomic with the table lookup. It is a leaf lock, taken with
 * netmap_lock held or with mmap_lock held (munmap). mem->lock protects the
 * pools of one region and its lazy population; it nests inside netmap_lock
 * and is never held across a user copy.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/errno.h>
#include <linux/gfp.h>
#include <linux/idr.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/sysfs.h>
#include <linux/user_namespace.h>
#include <linux/vmalloc.h>

#include "compat.h"
#include "netmap_kern.h"

/* Regions larger than this are refused: legacy nr_memsize is 32 bits. */
#define NM_MAX_MEMSIZE		(1ULL << 31)

/* ---------------------------------------------------------------------- */
/* Pool sizes: module parameters, applied when a region is next created.  */
/* ---------------------------------------------------------------------- */

static struct netmap_uint_param nm_if_num = { 100, 2, 65536 };
static struct netmap_uint_param nm_if_size = { 1024, 128, 65536 };
static struct netmap_uint_param nm_ring_num = { 200, 2, 65536 };
static struct netmap_uint_param nm_ring_size = { 36864, 512, 1 << 20 };
static struct netmap_uint_param nm_buf_num = { 81920, 4, 1 << 20 };
static struct netmap_uint_param nm_buf_size = { NETMAP_BUF_SIZE_DEFAULT, 64,
						65536 };

module_param_cb(if_num, &netmap_uint_param_ops, &nm_if_num, 0644);
MODULE_PARM_DESC(if_num, "netmap_if objects per region");
module_param_cb(if_size, &netmap_uint_param_ops, &nm_if_size, 0644);
MODULE_PARM_DESC(if_size, "bytes per netmap_if object");
module_param_cb(ring_num, &netmap_uint_param_ops, &nm_ring_num, 0644);
MODULE_PARM_DESC(ring_num, "ring objects per region");
module_param_cb(ring_size, &netmap_uint_param_ops, &nm_ring_size, 0644);
MODULE_PARM_DESC(ring_size, "bytes per ring object (header and slots)");
module_param_cb(buf_num, &netmap_uint_param_ops, &nm_buf_num, 0644);
MODULE_PARM_DESC(buf_num, "buffers per region");
module_param_cb(buf_size, &netmap_uint_param_ops, &nm_buf_size, 0644);
MODULE_PARM_DESC(buf_size, "bytes per buffer");

/* ---------------------------------------------------------------------- */
/* The sparse backing: pages allocated on first use                       */
/* ---------------------------------------------------------------------- */

struct nm_sparse {
	unsigned long npages;
	struct page *pages[];	/* NULL until the page is first needed */
};

static int nm_sparse_init(struct netmap_mem *mem)
{
	unsigned long n = mem->size >> PAGE_SHIFT;
	struct nm_sparse *sp;

	sp = kvzalloc(struct_size(sp, pages, n), GFP_KERNEL);
	if (!sp)
		return -ENOMEM;
	sp->npages = n;
	mem->backing_data = sp;
	return 0;
}

static void nm_sparse_fini(struct netmap_mem *mem)
{
	struct nm_sparse *sp = mem->backing_data;
	unsigned long i;

	if (!sp)
		return;
	for (i = 0; i < sp->npages; i++)
		if (sp->pages[i])
			put_page(sp->pages[i]);
	kvfree(sp);
	mem->backing_data = NULL;
}

/*
 * Page @i of the region, allocated (zeroed) on first use. Lockless: the
 * kernel (under mem->lock) and the fault handler (under mmap_lock only)
 * may race to provide the same page; one of them wins.
 */
static struct page *nm_sparse_page_gfp(struct nm_sparse *sp, unsigned long i,
				       gfp_t gfp)
{
	struct page *page = READ_ONCE(sp->pages[i]);
	struct page *old;

	if (page)
		return page;
	page = alloc_page(gfp | __GFP_ZERO);
	if (!page)
		return NULL;
	old = cmpxchg(&sp->pages[i], NULL, page);
	if (old) {
		__free_page(page);
		return old;
	}
	return page;
}

static struct page *nm_sparse_page(struct nm_sparse *sp, unsigned long i)
{
	return nm_sparse_page_gfp(sp, i, GFP_KERNEL);
}

/* For the data path: any context, no lock. */
static struct page *nm_sparse_page_any(struct netmap_mem *mem,
				       unsigned long pgoff, gfp_t gfp)
{
	struct nm_sparse *sp = mem->backing_data;

	if (pgoff >= sp->npages)
		return NULL;
	return nm_sparse_page_gfp(sp, pgoff, gfp);
}

/* Objects inside one page are reached directly, larger ones vmapped. */
static void *nm_sparse_map(struct netmap_mem *mem, u64 ofs, size_t len)
{
	struct nm_sparse *sp = mem->backing_data;
	unsigned long first = ofs >> PAGE_SHIFT;
	unsigned long last = (ofs + len - 1) >> PAGE_SHIFT;
	unsigned long i;
	void *addr;

	if (!len || last >= sp->npages)
		return NULL;
	for (i = first; i <= last; i++)
		if (!nm_sparse_page(sp, i))
			return NULL;
	if (first == last)
		return page_address(sp->pages[first]) + offset_in_page(ofs);
	addr = vmap(&sp->pages[first], last - first + 1, VM_MAP, PAGE_KERNEL);
	return addr ? addr + offset_in_page(ofs) : NULL;
}

static void nm_sparse_unmap(struct netmap_mem *mem, void *addr)
{
	if (is_vmalloc_addr(addr))
		vunmap((void *)((unsigned long)addr & PAGE_MASK));
}

static int nm_sparse_mmap(struct netmap_mem *mem, struct vm_area_struct *vma)
{
	nm_vma_set_flags(vma, VM_DONTEXPAND | VM_DONTDUMP);
	return 0;
}

static vm_fault_t nm_sparse_fault(struct netmap_mem *mem,
				  struct vm_fault *vmf)
{
	struct nm_sparse *sp = mem->backing_data;
	struct page *page;

	if (vmf->pgoff >= sp->npages)
		return VM_FAULT_SIGBUS;
	page = nm_sparse_page(sp, vmf->pgoff);
	if (!page)
		return VM_FAULT_OOM;
	get_page(page);		/* the mapping's reference */
	vmf->page = page;
	return 0;
}

static const struct netmap_mem_backing nm_sparse_backing = {
	.init = nm_sparse_init,
	.fini = nm_sparse_fini,
	.map = nm_sparse_map,
	.unmap = nm_sparse_unmap,
	.mmap = nm_sparse_mmap,
	.fault = nm_sparse_fault,
	.page = nm_sparse_page_any,
};

/* ---------------------------------------------------------------------- */
/* Regions                                                                 */
/* ---------------------------------------------------------------------- */

static DEFINE_MUTEX(netmap_mem_table);
static DEFINE_IDR(netmap_mem_idr);

static atomic_t *const nm_pool_counter[NM_NPOOLS] = {
	[NM_POOL_IF] = &netmap_if_in_use,
	[NM_POOL_RING] = &netmap_ring_in_use,
	[NM_POOL_BUF] = &netmap_buf_in_use,
};

static int nm_pool_init(struct netmap_pool *pool, u64 offset, u32 num,
			u32 size, u32 reserved)
{
	pool->offset = offset;
	pool->objtotal = num;
	pool->objsize = size;
	pool->reserved = reserved;
	pool->in_use = 0;
	pool->hint = reserved;
	pool->bitmap = bitmap_zalloc(num, GFP_KERNEL);
	if (!pool->bitmap)
		return -ENOMEM;
	bitmap_set(pool->bitmap, 0, reserved);
	return 0;
}

static void nm_mem_free(struct netmap_mem *mem)
{
	int p;

	for (p = 0; p < NM_NPOOLS; p++) {
		if (mem->pools[p].in_use) {
			/* Objects userspace lost, e.g. by scribbling slots. */
			pr_debug("region %u freed with %u objects of pool %d\n",
				 mem->id, mem->pools[p].in_use, p);
			atomic_sub(mem->pools[p].in_use, nm_pool_counter[p]);
		}
		bitmap_free(mem->pools[p].bitmap);
		bitmap_free(mem->pools[p].unusable);
	}
	kvfree(mem->kva);
	mem->backing->fini(mem);
	if (mem->admin_ns)
		put_user_ns(mem->admin_ns);
	mutex_destroy(&mem->lock);
	kfree(mem);
	atomic_dec(&netmap_mem_count);
}


/* A region with no pools yet: counted, one reference, @b behind it. */
static struct netmap_mem *nm_mem_struct_new(const struct netmap_mem_backing *b,
					    u64 size, bool is_private)
{
	struct netmap_mem *mem = kzalloc(sizeof(*mem), GFP_KERNEL);

	if (!mem)
		return NULL;
	if (b->page && !b->kaddr) {
		mem->kva_pages = DIV_ROUND_UP(size, PAGE_SIZE);
		mem->kva = kvcalloc(mem->kva_pages, sizeof(*mem->kva),
				    GFP_KERNEL);
		if (!mem->kva) {
			kfree(mem);
			return NULL;
		}
	}
	atomic_inc(&netmap_mem_count);
	kref_init(&mem->ref);
	mutex_init(&mem->lock);
	mem->is_private = is_private;
	mem->size = size;
	mem->backing = b;
	return mem;
}

/* The pools of a region: objects and bytes per object, per pool. */
struct nm_mem_geom {
	u32 num[NM_NPOOLS];
	u32 size[NM_NPOOLS];
};

/* The geometry of the module parameters, for the global region. */
static void nm_mem_geom_params(struct nm_mem_geom *g)
{
	g->num[NM_POOL_IF] = READ_ONCE(nm_if_num.val);
	g->size[NM_POOL_IF] = ALIGN(READ_ONCE(nm_if_size.val), 64);
	g->num[NM_POOL_RING] = READ_ONCE(nm_ring_num.val);
	g->size[NM_POOL_RING] = ALIGN(READ_ONCE(nm_ring_size.val),
				      NM_CACHE_ALIGN);
	g->num[NM_POOL_BUF] = READ_ONCE(nm_buf_num.val);
	g->size[NM_POOL_BUF] = ALIGN(READ_ONCE(nm_buf_size.val), 64);
}

/*
 * The geometry of a port's private region, as netmap sizes one: at least
 * the NM_PRIV_* pools, grown to hold the port's rings and one host ring
 * each way, NM_PRIV_PIPES pipes of the port's size (two rings a side for
 * each end) and the extra buffers. Each pool fills its last page.
 */
static void nm_mem_geom_fit(struct nm_mem_geom *g,
			    const struct netmap_mem_fit *fit)
{
	u32 txr = fit->rings[NM_TX] + 1, rxr = fit->rings[NM_RX] + 1;
	u32 txd = fit->slots[NM_TX], rxd = fit->slots[NM_RX];
	u32 pipe_rings = 4 * NM_PRIV_PIPES;
	int p;

	g->size[NM_POOL_IF] = max_t(u32, NM_PRIV_IF_SIZE,
				    ALIGN(sizeof(struct netmap_if) +
					  sizeof(u64) * (txr + rxr), 64));
	g->num[NM_POOL_IF] = max(NM_PRIV_IF_NUM, 2 + pipe_rings);
	g->size[NM_POOL_RING] = max_t(u32, NM_PRIV_RING_SIZE,
				      ALIGN(sizeof(struct netmap_ring) +
					    sizeof(struct netmap_slot) *
					    max(txd, rxd), NM_CACHE_ALIGN));
	g->num[NM_POOL_RING] = max(NM_PRIV_RING_NUM, txr + rxr + 2 * pipe_rings);
	g->size[NM_POOL_BUF] = ALIGN(READ_ONCE(nm_buf_size.val), 64);
	g->num[NM_POOL_BUF] = max(NM_PRIV_BUF_NUM,
				  (pipe_rings + rxr) * rxd +
				  (pipe_rings + txr) * txd + 2 +
				  fit->extra_bufs);
	for (p = 0; p < NM_NPOOLS; p++)
		g->num[p] = PAGE_ALIGN((u64)g->num[p] * g->size[p]) /
			    g->size[p];
}

/* A new region with geometry @g, not yet in the id table. */
static struct netmap_mem *nm_mem_alloc(const struct nm_mem_geom *g,
				       bool is_private)
{
	const u32 *num = g->num, *size = g->size;
	u64 if_ofs = 0;
	u64 ring_ofs = PAGE_ALIGN(if_ofs + (u64)num[NM_POOL_IF] *
				  size[NM_POOL_IF]);
	u64 buf_ofs = PAGE_ALIGN(ring_ofs + (u64)num[NM_POOL_RING] *
				 size[NM_POOL_RING]);
	u64 total = PAGE_ALIGN(buf_ofs + (u64)num[NM_POOL_BUF] *
			       size[NM_POOL_BUF]);
	struct netmap_mem *mem;

	if (total > NM_MAX_MEMSIZE) {
		pr_warn_ratelimited("region of %llu bytes refused; lower buf_num or buf_size\n",
				    total);
		return ERR_PTR(-ENOMEM);
	}
	mem = nm_mem_struct_new(&nm_sparse_backing, total, is_private);
	if (!mem)
		return ERR_PTR(-ENOMEM);
	if (mem->backing->init(mem) ||
	    nm_pool_init(&mem->pools[NM_POOL_IF], if_ofs, num[NM_POOL_IF],
			 size[NM_POOL_IF], 1) ||
	    nm_pool_init(&mem->pools[NM_POOL_RING], ring_ofs,
			 num[NM_POOL_RING], size[NM_POOL_RING], 1) ||
	    nm_pool_init(&mem->pools[NM_POOL_BUF], buf_ofs, num[NM_POOL_BUF],
			 size[NM_POOL_BUF], NM_RESERVED_BUFS)) {
		nm_mem_free(mem);
		return ERR_PTR(-ENOMEM);
	}
	return mem;
}

/* Called by kref_put_mutex() with netmap_mem_table held; drops it. */
static void nm_mem_release(struct kref *ref)
	__releases(&netmap_mem_table)
{
	struct netmap_mem *mem = container_of(ref, struct netmap_mem, ref);

	idr_remove(&netmap_mem_idr, mem->id);
	mutex_unlock(&netmap_mem_table);
	nm_mem_free(mem);
}

void netmap_mem_get(struct netmap_mem *mem)
{
	kref_get(&mem->ref);
}
EXPORT_SYMBOL_GPL(netmap_mem_get);

void netmap_mem_put(struct netmap_mem *mem)
{
	kref_put_mutex(&mem->ref, nm_mem_release, &netmap_mem_table);
}
EXPORT_SYMBOL_GPL(netmap_mem_put);

/*
 * Insert @mem under an id in [lo, hi); netmap_mem_table held. As netmap
 * numbers regions, the id is one above the highest in use (so 2 for the
 * first private region), else the lowest free one.
 */
static int nm_mem_insert(struct netmap_mem *mem, int lo, int hi)
{
	struct netmap_mem *m;
	int id, next = lo;

	idr_for_each_entry(&netmap_mem_idr, m, id)
		next = max(next, id + 1);
	id = -ENOSPC;
	if (next < hi)
		id = idr_alloc(&netmap_mem_idr, mem, next, hi, GFP_KERNEL);
	if (id == -ENOSPC)
		id = idr_alloc(&netmap_mem_idr, mem, lo, hi, GFP_KERNEL);
	if (id < 0)
		return id == -ENOSPC ? -ENOMEM : id;
	mem->id = id;
	return 0;
}

/**
 * netmap_mem_get_global() - a reference to the global region (id 1)
 *
 * Creates the region when nobody uses it.
 *
 * Return: the region or an ERR_PTR().
 */
struct netmap_mem *netmap_mem_get_global(void)
{
	struct nm_mem_geom g;
	struct netmap_mem *mem;
	int err;

	mutex_lock(&netmap_mem_table);
	mem = idr_find(&netmap_mem_idr, NM_GLOBAL_MEM_ID);
	if (mem) {
		kref_get(&mem->ref);
		goto out;
	}
	nm_mem_geom_params(&g);
	mem = nm_mem_alloc(&g, false);
	if (IS_ERR(mem))
		goto out;
	/* any namespace's NICs may use it: naming it needs the initial one */
	mem->admin_ns = get_user_ns(&init_user_ns);
	err = nm_mem_insert(mem, NM_GLOBAL_MEM_ID, NM_GLOBAL_MEM_ID + 1);
	if (err) {
		nm_mem_free(mem);
		mem = ERR_PTR(err);
	}
out:
	mutex_unlock(&netmap_mem_table);
	return mem;
}

/* A new private region of geometry @g, with its own id. */
static struct netmap_mem *nm_mem_new_private(const struct nm_mem_geom *g)
{
	struct netmap_mem *mem;
	int err;

	mem = nm_mem_alloc(g, true);
	if (IS_ERR(mem))
		return mem;
	mutex_lock(&netmap_mem_table);
	err = nm_mem_insert(mem, NM_GLOBAL_MEM_ID + 1, U16_MAX + 1);
	mutex_unlock(&netmap_mem_table);
	if (err) {
		nm_mem_free(mem);
		return ERR_PTR(err);
	}
	return mem;
}

/**
 * netmap_mem_new_private() - a new private region shaped as the global one
 *
 * Return: the region (one reference) or an ERR_PTR().
 */
struct netmap_mem *netmap_mem_new_private(void)
{
	struct nm_mem_geom g;

	nm_mem_geom_params(&g);
	return nm_mem_new_private(&g);
}

/**
 * netmap_mem_new_fitted() - a new private region sized for one port
 * @fit: the port's rings and slots (each at least 1), and extra buffers
 *
 * Return: the region (one reference) or an ERR_PTR().
 */
struct netmap_mem *netmap_mem_new_fitted(const struct netmap_mem_fit *fit)
{
	struct nm_mem_geom g;

	nm_mem_geom_fit(&g, fit);
	return nm_mem_new_private(&g);
}

/*
 * Mark the objects of @pool the backing cannot hold (obj_ok()) as taken for
 * good. Done before the region is published, so no lock is needed.
 */
static int nm_pool_mark_unusable(struct netmap_mem *mem,
				 struct netmap_pool *pool)
{
	u32 i;

	if (!mem->backing->obj_ok)
		return 0;
	for (i = pool->reserved; i < pool->objtotal; i++) {
		if (mem->backing->obj_ok(mem, pool->offset +
					 (u64)i * pool->objsize,
					 pool->objsize))
			continue;
		if (!pool->unusable) {
			pool->unusable = bitmap_zalloc(pool->objtotal,
						       GFP_KERNEL);
			if (!pool->unusable)
				return -ENOMEM;
		}
		__set_bit(i, pool->unusable);
		__set_bit(i, pool->bitmap);
		pool->nunusable++;
	}
	return 0;
}

/* A private region over @b with the pools of @info; see the callers. */
static struct netmap_mem *nm_mem_new_backed(const struct netmap_mem_backing *b,
					    void *data,
					    const struct nmreq_pools_info *info,
					    const u32 reserved[NM_NPOOLS])
{
	const u64 ofs[NM_NPOOLS] = { info->nr_if_pool_offset,
				     info->nr_ring_pool_offset,
				     info->nr_buf_pool_offset };
	const u32 num[NM_NPOOLS] = { info->nr_if_pool_objtotal,
				     info->nr_ring_pool_objtotal,
				     info->nr_buf_pool_objtotal };
	const u32 size[NM_NPOOLS] = { info->nr_if_pool_objsize,
				      info->nr_ring_pool_objsize,
				      info->nr_buf_pool_objsize };
	struct netmap_mem *mem;
	int p, err = 0;

	mem = nm_mem_struct_new(b, info->nr_memsize, true);
	if (!mem)
		return ERR_PTR(-ENOMEM);
	mem->backing_data = data;
	for (p = 0; p < NM_NPOOLS && !err; p++) {
		err = nm_pool_init(&mem->pools[p], ofs[p], num[p], size[p],
				   min(reserved[p], num[p]));
		if (!err)
			err = nm_pool_mark_unusable(mem, &mem->pools[p]);
	}
	if (!err) {
		mutex_lock(&netmap_mem_table);
		err = nm_mem_insert(mem, NM_GLOBAL_MEM_ID + 1, U16_MAX + 1);
		mutex_unlock(&netmap_mem_table);
	}
	if (err) {
		mem->backing_data = NULL;	/* the caller's again */
		nm_mem_free(mem);
		return ERR_PTR(err);
	}
	return mem;
}

/**
 * netmap_mem_new_ext() - a private region whose objects exist already
 * @b: the backing (see mem_ext.c)
 * @data: the backing's state, owned by the region on success (@b->fini
 *	releases it), left to the caller on failure
 * @info: size and pool geometry of the region, checked by the caller
 *
 * For a region allocated by another kernel (a ptnet host): every object
 * counts as reserved, so this kernel never allocates nor frees one.
 *
 * Return: the region (one reference) or an ERR_PTR().
 */
struct netmap_mem *netmap_mem_new_ext(const struct netmap_mem_backing *b,
				      void *data,
				      const struct nmreq_pools_info *info)
{
	const u32 all[NM_NPOOLS] = { info->nr_if_pool_objtotal,
				     info->nr_ring_pool_objtotal,
				     info->nr_buf_pool_objtotal };

	return nm_mem_new_backed(b, data, info, all);
}
EXPORT_SYMBOL_GPL(netmap_mem_new_ext);

/**
 * netmap_mem_new_user() - a private region in memory the caller provides
 * @b: the backing (see extmem.c)
 * @data: as for netmap_mem_new_ext()
 * @info: size and pool geometry of the region, checked by the caller
 * @reserved: per pool, the first objects that are never handed out
 *
 * Objects the backing's obj_ok() refuses are never handed out either.
 *
 * Return: the region (one reference) or an ERR_PTR().
 */
struct netmap_mem *netmap_mem_new_user(const struct netmap_mem_backing *b,
				       void *data,
				       const struct nmreq_pools_info *info,
				       const u32 reserved[NM_NPOOLS])
{
	return nm_mem_new_backed(b, data, info, reserved);
}

/**
 * netmap_mem_find() - a reference to an existing region
 * @id: its nr_mem_id; NM_GLOBAL_MEM_ID always exists
 *
 * Return: the region, or NULL when no region has that id.
 */
struct netmap_mem *netmap_mem_find(u16 id)
{
	struct netmap_mem *mem;

	if (id == NM_GLOBAL_MEM_ID) {
		mem = netmap_mem_get_global();
		return IS_ERR(mem) ? NULL : mem;
	}
	mutex_lock(&netmap_mem_table);
	mem = idr_find(&netmap_mem_idr, id);
	if (mem)
		kref_get(&mem->ref);
	mutex_unlock(&netmap_mem_table);
	return mem;
}

void netmap_mem_lock(struct netmap_mem *mem)
{
	mutex_lock(&mem->lock);
}

void netmap_mem_unlock(struct netmap_mem *mem)
{
	mutex_unlock(&mem->lock);
}

/**
 * netmap_obj_alloc_locked() - take one object from a pool
 * @mem: the region, with mem->lock held
 * @p: the pool
 *
 * The object's memory is not touched: see netmap_obj_map_locked().
 *
 * Return: the object index, or -ENOMEM when the pool is exhausted.
 */
int netmap_obj_alloc_locked(struct netmap_mem *mem, enum nm_pool_id p)
{
	struct netmap_pool *pool = &mem->pools[p];
	unsigned long i;

	lockdep_assert_held(&mem->lock);
	i = find_next_zero_bit(pool->bitmap, pool->objtotal, pool->hint);
	if (i >= pool->objtotal)
		i = find_next_zero_bit(pool->bitmap, pool->objtotal,
				       pool->reserved);
	if (i >= pool->objtotal)
		return -ENOMEM;
	__set_bit(i, pool->bitmap);
	pool->hint = i + 1;
	pool->in_use++;
	atomic_inc(nm_pool_counter[p]);
	return i;
}

/**
 * netmap_obj_free_locked() - give one object back to its pool
 * @mem: the region, with mem->lock held
 * @p: the pool
 * @idx: the object; any value is accepted
 *
 * Indices that are out of range, reserved, unusable or not allocated are
 * ignored: buffer indices come from shared memory and may be anything.
 *
 * Return: true when an object was freed.
 */
bool netmap_obj_free_locked(struct netmap_mem *mem, enum nm_pool_id p,
			    u32 idx)
{
	struct netmap_pool *pool = &mem->pools[p];

	lockdep_assert_held(&mem->lock);
	if (idx < pool->reserved || idx >= pool->objtotal)
		return false;
	if (pool->unusable && test_bit(idx, pool->unusable))
		return false;
	if (!__test_and_clear_bit(idx, pool->bitmap))
		return false;
	pool->in_use--;
	atomic_dec(nm_pool_counter[p]);
	return true;
}

/**
 * netmap_obj_map_locked() - a kernel address for an object
 * @mem: the region, with mem->lock held
 * @p: the pool
 * @idx: an object of the pool
 *
 * Return: the address, valid until netmap_obj_unmap_locked(), or NULL when
 * memory is short.
 */
void *netmap_obj_map_locked(struct netmap_mem *mem, enum nm_pool_id p,
			    u32 idx)
{
	lockdep_assert_held(&mem->lock);
	return mem->backing->map(mem, netmap_obj_offset(mem, p, idx),
				 mem->pools[p].objsize);
}

void netmap_obj_unmap_locked(struct netmap_mem *mem, void *addr)
{
	lockdep_assert_held(&mem->lock);
	mem->backing->unmap(mem, addr);
}

/**
 * netmap_buf_link_locked() - the first u32 of a buffer
 * @mem: the region, with mem->lock held
 * @idx: a valid buffer index
 *
 * The word links the extra-buffer lists. Buffers start 64-byte aligned, so
 * the word never straddles a page and needs no unmapping.
 *
 * Return: its kernel address, or NULL when memory is short.
 */
u32 *netmap_buf_link_locked(struct netmap_mem *mem, u32 idx)
{
	lockdep_assert_held(&mem->lock);
	return mem->backing->map(mem, netmap_obj_offset(mem, NM_POOL_BUF, idx),
				 sizeof(u32));
}

/**
 * netmap_buf_chunk() - a kernel address inside a buffer, from any context
 * @mem: the region; the caller holds a reference
 * @idx: a valid buffer index
 * @off: a byte offset inside the buffer
 * @len: in: the bytes wanted from @off; out: how many of them are
 *	contiguous at the result (never more than asked)
 *
 * For the data path (syncs under a ring's spinlock, softirq): takes no
 * lock and provides a missing page with GFP_ATOMIC. The address stays
 * valid while the region lives. The page's address goes into mem->kva,
 * where netmap_buf_at() finds it next time: a page never changes while
 * the region lives, so racing writers store the same value, and the page
 * was zeroed before it was published by the backing's cmpxchg.
 *
 * Return: the address, or NULL when memory is short.
 */
void *netmap_buf_chunk(struct netmap_mem *mem, u32 idx, u32 off, u32 *len)
{
	u64 ofs = netmap_obj_offset(mem, NM_POOL_BUF, idx) + off;
	unsigned long pg = ofs >> PAGE_SHIFT;
	u32 room = PAGE_SIZE - offset_in_page(ofs);
	struct page *page;
	void *kva = NULL;

	if (mem->backing->kaddr)	/* mapped as a whole: contiguous */
		return mem->backing->kaddr(mem, ofs);
	if (pg < mem->kva_pages)
		kva = READ_ONCE(mem->kva[pg]);
	if (!kva) {
		page = mem->backing->page(mem, pg, GFP_ATOMIC);
		if (!page)
			return NULL;
		kva = page_address(page);
		if (pg < mem->kva_pages)
			WRITE_ONCE(mem->kva[pg], kva);
	}
	*len = min(*len, room);
	return kva + offset_in_page(ofs);
}
EXPORT_SYMBOL_GPL(netmap_buf_chunk);

/**
 * netmap_buf_read() - copy bytes out of a buffer, from any context
 * @mem: the region
 * @idx: a valid buffer index
 * @off: offset in the buffer
 * @dst: where to
 * @len: bytes; @off + @len must not pass the buffer size
 *
 * Return: 0 or -ENOMEM.
 */
int netmap_buf_read(struct netmap_mem *mem, u32 idx, u32 off, void *dst,
		    u32 len)
{
	while (len) {
		u32 n = len;
		void *src = netmap_buf_at(mem, idx, off, &n);

		if (!src)
			return -ENOMEM;
		memcpy(dst, src, n);
		dst += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* The other way: see netmap_buf_read(). */
int netmap_buf_write(struct netmap_mem *mem, u32 idx, u32 off,
		     const void *src, u32 len)
{
	while (len) {
		u32 n = len;
		void *dst = netmap_buf_at(mem, idx, off, &n);

		if (!dst)
			return -ENOMEM;
		memcpy(dst, src, n);
		src += n;
		off += n;
		len -= n;
	}
	return 0;
}

u32 netmap_obj_free_count_locked(const struct netmap_mem *mem,
				 enum nm_pool_id p)
{
	const struct netmap_pool *pool = &mem->pools[p];

	return pool->objtotal - pool->reserved - pool->nunusable -
	       pool->in_use;
}

/* Most slots a ring object of this region can hold. */
u32 netmap_mem_max_slots(const struct netmap_mem *mem)
{
	u32 n = (mem->pools[NM_POOL_RING].objsize -
		 sizeof(struct netmap_ring)) / sizeof(struct netmap_slot);

	return min_t(u32, n, NM_MAX_SLOTS);
}
EXPORT_SYMBOL_GPL(netmap_mem_max_slots);

/* Most ring_ofs[] entries a netmap_if object of this region can hold. */
u32 netmap_mem_max_if_rings(const struct netmap_mem *mem)
{
	return (mem->pools[NM_POOL_IF].objsize - sizeof(struct netmap_if)) /
	       sizeof(ssize_t);
}

void netmap_mem_pools_info(struct netmap_mem *mem,
			   struct nmreq_pools_info *info)
{
	const struct netmap_pool *p = mem->pools;

	info->nr_memsize = mem->size;
	info->nr_mem_id = mem->id;
	info->nr_if_pool_offset = p[NM_POOL_IF].offset;
	info->nr_if_pool_objtotal = p[NM_POOL_IF].objtotal;
	info->nr_if_pool_objsize = p[NM_POOL_IF].objsize;
	info->nr_ring_pool_offset = p[NM_POOL_RING].offset;
	info->nr_ring_pool_objtotal = p[NM_POOL_RING].objtotal;
	info->nr_ring_pool_objsize = p[NM_POOL_RING].objsize;
	info->nr_buf_pool_offset = p[NM_POOL_BUF].offset;
	info->nr_buf_pool_objtotal = p[NM_POOL_BUF].objtotal;
	info->nr_buf_pool_objsize = p[NM_POOL_BUF].objsize;
}

/* ---------------------------------------------------------------------- */
/* Mappings                                                                */
/* ---------------------------------------------------------------------- */

/* Each mapping (and each piece of a split one) holds a region reference. */
static void nm_vma_open(struct vm_area_struct *vma)
{
	netmap_mem_get(vma->vm_private_data);
}

static void nm_vma_close(struct vm_area_struct *vma)
{
	netmap_mem_put(vma->vm_private_data);
}

static vm_fault_t nm_vma_fault(struct vm_fault *vmf)
{
	struct netmap_mem *mem = vmf->vma->vm_private_data;

	if (!mem->backing->fault)
		return VM_FAULT_SIGBUS;
	return mem->backing->fault(mem, vmf);
}

static const struct vm_operations_struct nm_vm_ops = {
	.open = nm_vma_open,
	.close = nm_vma_close,
	.fault = nm_vma_fault,
};

/**
 * netmap_mem_mmap() - map (part of) a region into userspace
 * @mem: the region; the caller holds a reference
 * @vma: the new mapping
 *
 * Return: 0, or -EINVAL when the range is not inside the region.
 */
int netmap_mem_mmap(struct netmap_mem *mem, struct vm_area_struct *vma)
{
	unsigned long len = vma->vm_end - vma->vm_start;
	int err;

	if (vma->vm_pgoff > (mem->size >> PAGE_SHIFT) ||
	    len > mem->size - ((u64)vma->vm_pgoff << PAGE_SHIFT))
		return -EINVAL;
	err = mem->backing->mmap(mem, vma);
	if (err)
		return err;
	/* Nothing fails past this point: the reference is the mapping's. */
	netmap_mem_get(mem);
	vma->vm_private_data = mem;
	vma->vm_ops = &nm_vm_ops;
	return 0;
}

int netmap_mem_init(void)
{
	return 0;
}

void netmap_mem_exit(void)
{
	WARN_ON(!idr_is_empty(&netmap_mem_idr));
	idr_destroy(&netmap_mem_idr);
}
