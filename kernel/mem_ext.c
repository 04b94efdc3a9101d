// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * A region this kernel did not allocate: in a ptnet guest, the host's
 * netmap region, which the ptnetmap-memdev device exposes as a PCI BAR
 * (guest/memdev.c). The pools sit at the offsets the device reports; the
 * objects in them (netmap_if, rings, buffers) are the host's, so the
 * region is created with every object reserved (netmap_mem_new_ext()) and
 * the guest never allocates or frees one.
 *
 * The whole BAR is mapped once into the kernel (memremap(), write-back:
 * it is ordinary host RAM behind the device), which the data path uses
 * directly (@kaddr); userspace mappings of /dev/netmap map the BAR pages
 * themselves (vm_iomap_memory()), so a guest application reads and writes
 * the host's rings and buffers with no copy.
 *
 * Lifetime: the region owns the kernel mapping and drops it with its last
 * reference. A device that goes away while a region still has users
 * leaves the mapping in place; what is behind it then is the host's
 * business, not a fault in this kernel.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "netmap_kern.h"

struct nm_iomem {
	phys_addr_t base;
	u64 len;
	void *vaddr;
};

static void nm_iomem_fini(struct netmap_mem *mem)
{
	struct nm_iomem *io = mem->backing_data;

	if (!io)
		return;
	memunmap(io->vaddr);
	kfree(io);
	mem->backing_data = NULL;
}

static void *nm_iomem_kaddr(struct netmap_mem *mem, u64 ofs)
{
	struct nm_iomem *io = mem->backing_data;

	return io->vaddr + ofs;
}

static void *nm_iomem_map(struct netmap_mem *mem, u64 ofs, size_t len)
{
	if (!len || ofs + len > mem->size)
		return NULL;
	return nm_iomem_kaddr(mem, ofs);
}

static void nm_iomem_unmap(struct netmap_mem *mem, void *addr)
{
}

/* The whole requested range at once: there is nothing to fault in. */
static int nm_iomem_mmap(struct netmap_mem *mem, struct vm_area_struct *vma)
{
	struct nm_iomem *io = mem->backing_data;

	return vm_iomap_memory(vma, io->base, mem->size);
}

static const struct netmap_mem_backing nm_iomem_backing = {
	.fini = nm_iomem_fini,
	.map = nm_iomem_map,
	.unmap = nm_iomem_unmap,
	.mmap = nm_iomem_mmap,
	.kaddr = nm_iomem_kaddr,
};

/* One pool inside [0, size), objects of at least @min bytes. */
static bool nm_iomem_pool_ok(u64 ofs, u32 num, u32 objsize, u32 min,
			     u64 size)
{
	return num && objsize >= min && ofs < size &&
	       (u64)num * objsize <= size - ofs;
}

/**
 * netmap_mem_new_iomem() - a region over a host region seen through a BAR
 * @base: physical address of the BAR
 * @len: its length
 * @info: the region's size and pools, as the device reports them
 *	(nr_mem_id is ignored: the region gets an id of this kernel)
 *
 * Everything in @info comes from a device and is checked: the region must
 * fit in the BAR, each pool in the region, in the order netmap_if, ring,
 * buffer, without overlapping; objects must hold their headers.
 *
 * Return: the region (one reference), or ERR_PTR(-EINVAL) for a geometry
 * that does not hold, -ENOMEM, or -EIO when the BAR cannot be mapped.
 */
struct netmap_mem *netmap_mem_new_iomem(phys_addr_t base, u64 len,
					const struct nmreq_pools_info *info)
{
	u64 size = info->nr_memsize;
	struct netmap_mem *mem;
	struct nm_iomem *io;

	if (!size || size > len || !PAGE_ALIGNED(size) ||
	    !PAGE_ALIGNED(base) ||
	    !nm_iomem_pool_ok(info->nr_if_pool_offset,
			      info->nr_if_pool_objtotal,
			      info->nr_if_pool_objsize,
			      sizeof(struct netmap_if), size) ||
	    !nm_iomem_pool_ok(info->nr_ring_pool_offset,
			      info->nr_ring_pool_objtotal,
			      info->nr_ring_pool_objsize,
			      sizeof(struct netmap_ring), size) ||
	    !nm_iomem_pool_ok(info->nr_buf_pool_offset,
			      info->nr_buf_pool_objtotal,
			      info->nr_buf_pool_objsize, 64, size) ||
	    info->nr_if_pool_offset + (u64)info->nr_if_pool_objtotal *
	    info->nr_if_pool_objsize > info->nr_ring_pool_offset ||
	    info->nr_ring_pool_offset + (u64)info->nr_ring_pool_objtotal *
	    info->nr_ring_pool_objsize > info->nr_buf_pool_offset)
		return ERR_PTR(-EINVAL);

	io = kzalloc(sizeof(*io), GFP_KERNEL);
	if (!io)
		return ERR_PTR(-ENOMEM);
	io->base = base;
	io->len = len;
	io->vaddr = memremap(base, size, MEMREMAP_WB);
	if (!io->vaddr) {
		kfree(io);
		return ERR_PTR(-EIO);
	}
	mem = netmap_mem_new_ext(&nm_iomem_backing, io, info);
	if (IS_ERR(mem)) {
		memunmap(io->vaddr);
		kfree(io);
	}
	return mem;
}
EXPORT_SYMBOL_GPL(netmap_mem_new_iomem);
