// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The EXTMEM option of REGISTER: user memory becomes a memory region.
 *
 * The option gives a user address and a struct nmreq_pools_info. Zero
 * counts and sizes take defaults (written back to the option), every page
 * overlapping [usrptr, usrptr + nr_memsize) is pinned writable for the
 * long term, and the pools are laid out in those pages, from the start of
 * the first one, in the order netmap_if, ring, buffer:
 *
 *   - each pool starts on a page boundary, its objects back to back;
 *   - nr_memsize must hold the three pools as asked (objtotal * objsize
 *     each), or the option fails with ENOMEM; pages left over after the
 *     ring pool all go to the buffer pool;
 *   - an object that crosses from one page into another that does not
 *     follow it physically is never handed out (objects must be linear in
 *     the kernel's direct map);
 *   - object counts are then what fits.
 *
 * The same pages given again (same count, same pages, same order) give the
 * region already built on them, whatever the rest of the option says.
 * Other overlaps are not detected: two regions on shared pages are the
 * user's own business, each holds its own pins.
 *
 * The ports the REGISTER creates take the region (a new VALE port, the
 * parent of a new pipe): while the REGISTER looks its port up, the region
 * is netmap_extmem_pending, which netmap_mem_new_port() hands out instead
 * of a new private region. Ports that exist already keep theirs, and the
 * option is then unused. The region lives while ports, bindings or
 * mappings hold it; its last reference unpins the pages. Pinned pages stay
 * valid whatever the user does to its mapping (munmap, MADV_DONTNEED):
 * the region then simply no longer shows through the user's addresses.
 *
 * Mappings of /dev/netmap show the same pages (as raw page frames, since
 * the pages are the user's anonymous or file pages), so another process
 * can map the region as any other; the owner usually reads it through
 * its own pointer, with nr_offset relative to the first page.
 *
 * Locking: nm_umem_lock (a leaf mutex) protects the list of user regions;
 * it is taken with mmap_lock held (the last munmap of a mapping frees the
 * region) and so never held while pinning.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "compat.h"
#include "netmap_kern.h"

/*
 * Largest region: as for kernel regions (legacy nr_memsize has 32 bits).
 * Objects per pool are bounded too, which bounds the pool bitmaps.
 */
#define NM_EXT_MAX_SIZE		(1ULL << 31)
#define NM_EXT_MAX_OBJS		(1U << 22)

struct netmap_mem *netmap_extmem_pending;

/**
 * struct nm_umem - the pinned pages behind a user region
 * @node: entry in nm_umem_list
 * @mem: the region
 * @npages: pages pinned
 * @pages: the pages, in user address order
 */
struct nm_umem {
	struct list_head node;
	struct netmap_mem *mem;
	unsigned long npages;
	struct page **pages;
};

static DEFINE_MUTEX(nm_umem_lock);
static LIST_HEAD(nm_umem_list);

static void nm_umem_unpin(struct page **pages, unsigned long n)
{
	if (!n)
		return;
	unpin_user_pages_dirty_lock(pages, n, true);
	atomic_sub(n, &netmap_extmem_pages);
}

static void nm_umem_fini(struct netmap_mem *mem)
{
	struct nm_umem *um = mem->backing_data;

	if (!um)
		return;
	mutex_lock(&nm_umem_lock);
	list_del(&um->node);
	mutex_unlock(&nm_umem_lock);
	nm_umem_unpin(um->pages, um->npages);
	kvfree(um->pages);
	kfree(um);
	mem->backing_data = NULL;
}

/* Page @i is followed physically by page @i + 1. */
static bool nm_umem_contig(const struct nm_umem *um, unsigned long i)
{
	return page_to_pfn(um->pages[i]) + 1 == page_to_pfn(um->pages[i + 1]);
}

/* [ofs, ofs + len), len > 0, is linear in the direct map. */
static bool nm_umem_linear(const struct nm_umem *um, u64 ofs, u64 len)
{
	unsigned long i, last = (ofs + len - 1) >> PAGE_SHIFT;

	for (i = ofs >> PAGE_SHIFT; i < last; i++)
		if (!nm_umem_contig(um, i))
			return false;
	return true;
}

static bool nm_umem_obj_ok(struct netmap_mem *mem, u64 ofs, u32 len)
{
	return nm_umem_linear(mem->backing_data, ofs, len);
}

static void *nm_umem_map(struct netmap_mem *mem, u64 ofs, size_t len)
{
	struct nm_umem *um = mem->backing_data;
	unsigned long first = ofs >> PAGE_SHIFT;
	unsigned long last;
	void *addr;

	if (!len || ofs >= mem->size || len > mem->size - ofs)
		return NULL;
	last = (ofs + len - 1) >> PAGE_SHIFT;
	if (nm_umem_linear(um, ofs, len))
		return page_address(um->pages[first]) + offset_in_page(ofs);
	addr = vmap(&um->pages[first], last - first + 1, VM_MAP, PAGE_KERNEL);
	return addr ? addr + offset_in_page(ofs) : NULL;
}

static void nm_umem_unmap(struct netmap_mem *mem, void *addr)
{
	if (is_vmalloc_addr(addr))
		vunmap((void *)((unsigned long)addr & PAGE_MASK));
}

static struct page *nm_umem_page(struct netmap_mem *mem, unsigned long pgoff,
				 gfp_t gfp)
{
	struct nm_umem *um = mem->backing_data;

	return pgoff < um->npages ? um->pages[pgoff] : NULL;
}

/*
 * The pages are the user's (anonymous ones, typically), which a second
 * mapping cannot take as its own: they are mapped as page frames, which
 * the region's pins keep valid while the mapping holds the region.
 */
static int nm_umem_mmap(struct netmap_mem *mem, struct vm_area_struct *vma)
{
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	nm_vma_set_flags(vma, VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
	return 0;
}

static vm_fault_t nm_umem_fault(struct netmap_mem *mem, struct vm_fault *vmf)
{
	struct nm_umem *um = mem->backing_data;

	if (vmf->pgoff >= (mem->size >> PAGE_SHIFT))
		return VM_FAULT_SIGBUS;
	return vmf_insert_pfn(vmf->vma, vmf->address,
			      page_to_pfn(um->pages[vmf->pgoff]));
}

static const struct netmap_mem_backing nm_umem_backing = {
	.fini = nm_umem_fini,
	.map = nm_umem_map,
	.unmap = nm_umem_unmap,
	.mmap = nm_umem_mmap,
	.fault = nm_umem_fault,
	.page = nm_umem_page,
	.obj_ok = nm_umem_obj_ok,
};

/* ---------------------------------------------------------------------- */
/* Geometry                                                                */
/* ---------------------------------------------------------------------- */

static void nm_ext_default(u32 *v, u32 dflt)
{
	if (!*v)
		*v = dflt;
}

/* Zero counts and sizes get their defaults, in the option itself. */
static void nm_ext_defaults(struct nmreq_pools_info *pi)
{
	nm_ext_default(&pi->nr_if_pool_objtotal, NM_PRIV_IF_NUM);
	nm_ext_default(&pi->nr_if_pool_objsize, NM_PRIV_IF_SIZE);
	nm_ext_default(&pi->nr_ring_pool_objtotal, NM_PRIV_RING_NUM);
	nm_ext_default(&pi->nr_ring_pool_objsize, NM_PRIV_RING_SIZE);
	nm_ext_default(&pi->nr_buf_pool_objtotal, NM_PRIV_BUF_NUM);
	nm_ext_default(&pi->nr_buf_pool_objsize, NM_PRIV_BUF_SIZE);
}

/* What a pool may ask for; below the minimum an object holds nothing. */
struct nm_ext_bounds {
	u32 min_num;	/* reserved objects plus one */
	u32 min_size;
	u32 max_size;
	u32 reserved;
};

static const struct nm_ext_bounds nm_ext_bounds[NM_NPOOLS] = {
	/* The first netmap_if is at offset 0, as in netmap (nr_offset 0). */
	[NM_POOL_IF] = { 1, 128, 65536, 0 },
	[NM_POOL_RING] = { 2, 512, 1 << 20, 1 },
	[NM_POOL_BUF] = { NM_RESERVED_BUFS + 1, 64, 65536, NM_RESERVED_BUFS },
};

/*
 * Lay the pools out in @cap bytes (whole pages) for a region whose user
 * declared @memsize bytes; @pi holds the requested counts and sizes and
 * gets the layout.
 *
 * Return: 0, -ENOMEM when the pools do not fit, -EINVAL for a count or
 * size out of bounds.
 */
static int nm_ext_layout(struct nmreq_pools_info *pi, u64 memsize, u64 cap,
			 u64 ofs_out[NM_NPOOLS], u32 num[NM_NPOOLS],
			 u32 size[NM_NPOOLS])
{
	u64 need = 0, ofs = 0;
	int p;

	num[NM_POOL_IF] = pi->nr_if_pool_objtotal;
	size[NM_POOL_IF] = pi->nr_if_pool_objsize;
	num[NM_POOL_RING] = pi->nr_ring_pool_objtotal;
	size[NM_POOL_RING] = pi->nr_ring_pool_objsize;
	num[NM_POOL_BUF] = pi->nr_buf_pool_objtotal;
	size[NM_POOL_BUF] = pi->nr_buf_pool_objsize;
	/* Each product fits in u64; the sum is checked as it grows. */
	for (p = 0; p < NM_NPOOLS; p++)
		if (check_add_overflow(need, (u64)num[p] * size[p], &need) ||
		    need > memsize)
			return -ENOMEM;
	for (p = 0; p < NM_NPOOLS; p++) {
		const struct nm_ext_bounds *b = &nm_ext_bounds[p];

		if (num[p] < b->min_num || num[p] > NM_EXT_MAX_OBJS ||
		    size[p] < b->min_size || size[p] > b->max_size)
			return -EINVAL;
	}
	for (p = 0; p < NM_NPOOLS; p++) {
		/* Whole objects; the link word of a buffer in one page. */
		size[p] = ALIGN(size[p], 64);
		if (ofs >= cap)
			return -ENOMEM;
		if (p == NM_POOL_BUF)	/* the surplus, too */
			num[p] = min_t(u64, div64_u64(cap - ofs, size[p]),
				       NM_EXT_MAX_OBJS);
		else
			num[p] = min_t(u64, num[p],
				       div64_u64(cap - ofs, size[p]));
		if (num[p] < nm_ext_bounds[p].min_num)
			return -ENOMEM;
		ofs_out[p] = ofs;
		ofs = PAGE_ALIGN(ofs + (u64)num[p] * size[p]);
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Pinning and reuse                                                       */
/* ---------------------------------------------------------------------- */

/*
 * Pin the pages of [uaddr, uaddr + len) writable, for the long term.
 * Return: the page array (kvfree() it) or an ERR_PTR: -EFAULT when a page
 * cannot be pinned, -ENOMEM.
 */
static struct page **nm_umem_pin(u64 uaddr, u64 len, unsigned long *npagesp)
{
	unsigned long npages, done = 0;
	struct page **pages;

	if (!len || len > NM_EXT_MAX_SIZE)
		return ERR_PTR(-ENOMEM);
	if (uaddr + len < uaddr || !access_ok(u64_to_user_ptr(uaddr), len))
		return ERR_PTR(-EFAULT);
	npages = DIV_ROUND_UP(offset_in_page(uaddr) + len, PAGE_SIZE);
	pages = kvcalloc(npages, sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return ERR_PTR(-ENOMEM);
	while (done < npages) {
		int got = pin_user_pages_fast((uaddr & PAGE_MASK) +
					      done * PAGE_SIZE,
					      npages - done,
					      FOLL_WRITE | FOLL_LONGTERM,
					      pages + done);

		if (got <= 0) {
			nm_umem_unpin(pages, done);
			kvfree(pages);
			return ERR_PTR(got == -ENOMEM ? -ENOMEM : -EFAULT);
		}
		atomic_add(got, &netmap_extmem_pages);
		done += got;
	}
	*npagesp = npages;
	return pages;
}

/* A live region on exactly these pages, with a new reference, or NULL. */
static struct netmap_mem *nm_umem_find(struct page **pages,
				       unsigned long npages)
{
	struct netmap_mem *mem = NULL;
	struct nm_umem *um;

	mutex_lock(&nm_umem_lock);
	list_for_each_entry(um, &nm_umem_list, node) {
		if (um->npages == npages &&
		    !memcmp(um->pages, pages, npages * sizeof(*pages)) &&
		    kref_get_unless_zero(&um->mem->ref)) {
			mem = um->mem;
			break;
		}
	}
	mutex_unlock(&nm_umem_lock);
	return mem;
}

/* A new region on @pages (which it takes over on success). */
static struct netmap_mem *nm_umem_new(struct nmreq_pools_info *pi,
				      struct page **pages,
				      unsigned long npages)
{
	u64 cap = (u64)npages << PAGE_SHIFT;
	struct nmreq_pools_info info = {};
	struct netmap_mem *mem;
	u32 num[NM_NPOOLS], size[NM_NPOOLS], reserved[NM_NPOOLS];
	u64 ofs[NM_NPOOLS];
	struct nm_umem *um;
	int p, err;

	err = nm_ext_layout(pi, pi->nr_memsize, cap, ofs, num, size);
	if (err)
		return ERR_PTR(err);
	for (p = 0; p < NM_NPOOLS; p++)
		reserved[p] = nm_ext_bounds[p].reserved;
	info.nr_memsize = PAGE_ALIGN(ofs[NM_POOL_BUF] +
				     (u64)num[NM_POOL_BUF] * size[NM_POOL_BUF]);
	info.nr_if_pool_offset = ofs[NM_POOL_IF];
	info.nr_if_pool_objtotal = num[NM_POOL_IF];
	info.nr_if_pool_objsize = size[NM_POOL_IF];
	info.nr_ring_pool_offset = ofs[NM_POOL_RING];
	info.nr_ring_pool_objtotal = num[NM_POOL_RING];
	info.nr_ring_pool_objsize = size[NM_POOL_RING];
	info.nr_buf_pool_offset = ofs[NM_POOL_BUF];
	info.nr_buf_pool_objtotal = num[NM_POOL_BUF];
	info.nr_buf_pool_objsize = size[NM_POOL_BUF];

	um = kzalloc(sizeof(*um), GFP_KERNEL);
	if (!um)
		return ERR_PTR(-ENOMEM);
	INIT_LIST_HEAD(&um->node);
	um->npages = npages;
	um->pages = pages;
	mem = netmap_mem_new_user(&nm_umem_backing, um, &info, reserved);
	if (IS_ERR(mem)) {
		kfree(um);
		return mem;
	}
	um->mem = mem;
	mutex_lock(&nm_umem_lock);
	list_add_tail(&um->node, &nm_umem_list);
	mutex_unlock(&nm_umem_lock);
	return mem;
}

/**
 * netmap_extmem_get() - the region of a REGISTER's EXTMEM option
 * @opt: the option, copied in whole (struct nmreq_opt_extmem); its
 *	defaults are filled in and its nro_status is set
 *
 * Call with no lock but priv->lock held: user pages are pinned.
 *
 * Return: the region (one reference), or an ERR_PTR() with the errno the
 * status holds: -EINVAL (a count or size out of bounds), -EFAULT (pages
 * that cannot be pinned), -ENOMEM (too small, too large, or no memory).
 */
struct netmap_mem *netmap_extmem_get(struct nmreq_option *opt)
{
	struct nmreq_opt_extmem *e = (struct nmreq_opt_extmem *)opt;
	struct nmreq_pools_info *pi = &e->nro_info;
	unsigned long npages;
	struct netmap_mem *mem;
	struct page **pages;

	nm_ext_defaults(pi);
	pages = nm_umem_pin(e->nro_usrptr, pi->nr_memsize, &npages);
	if (IS_ERR(pages)) {
		mem = ERR_CAST(pages);
		goto out;
	}
	mem = nm_umem_find(pages, npages);
	if (!mem)
		mem = nm_umem_new(pi, pages, npages);
	else				/* reused: these pins are not needed */
		goto unpin;
	if (!IS_ERR(mem))
		goto out;
unpin:
	nm_umem_unpin(pages, npages);
	kvfree(pages);
out:
	opt->nro_status = IS_ERR(mem) ? -PTR_ERR(mem) : 0;
	return mem;
}

/**
 * netmap_mem_new_port() - the region of a port a lookup creates
 * @fit: what the port's own region must hold
 *
 * The region of the REGISTER's EXTMEM option while it looks its port up,
 * else a new private region sized for the port. netmap_lock held.
 *
 * Return: the region (one reference) or an ERR_PTR().
 */
struct netmap_mem *netmap_mem_new_port(const struct netmap_mem_fit *fit)
{
	struct netmap_mem *mem = netmap_extmem_pending;

	lockdep_assert_held(&netmap_lock);
	if (!mem)
		return netmap_mem_new_fitted(fit);
	netmap_mem_get(mem);
	return mem;
}
