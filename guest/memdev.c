// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * ptnetmap-memdev: one device per host memory region. BAR0 describes the
 * region (size, host memory id, the three pools); BAR1 is the region. The
 * probe turns it into a netmap.ko region of this kernel (mem_ext.c in the
 * core), which the ptnet devices with the same host memory id use.
 *
 * Locking: ptnet_memdevs_lock (a leaf mutex) guards the list.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/slab.h>

#include "ptnet.h"

struct ptnet_memdev {
	struct list_head node;
	u16 host_id;
	struct netmap_mem *mem;
};

static DEFINE_MUTEX(ptnet_memdevs_lock);
static LIST_HEAD(ptnet_memdevs);

/**
 * ptnet_memdev_get() - the region of a host memory id
 * @host_id: the id the ptnet device reports (HOSTMEMID)
 *
 * Return: the region with a new reference, or NULL when no memdev of that
 * id has been probed (yet).
 */
struct netmap_mem *ptnet_memdev_get(u16 host_id)
{
	struct netmap_mem *mem = NULL;
	struct ptnet_memdev *md;

	mutex_lock(&ptnet_memdevs_lock);
	list_for_each_entry(md, &ptnet_memdevs, node) {
		if (md->host_id == host_id) {
			mem = md->mem;
			netmap_mem_get(mem);
			break;
		}
	}
	mutex_unlock(&ptnet_memdevs_lock);
	return mem;
}

static u32 md_read(void __iomem *regs, u32 reg)
{
	return ioread32(regs + reg);
}

static int ptnet_memdev_probe(struct pci_dev *pdev,
			      const struct pci_device_id *id)
{
	struct nmreq_pools_info info = {};
	struct ptnet_memdev *md, *other;
	void __iomem *regs;
	int err;

	err = pcim_enable_device(pdev);
	if (err)
		return err;
	if (pci_resource_len(pdev, 0) < PTNET_MD_REGS_LEN ||
	    !(pci_resource_flags(pdev, PTNET_MD_MEM_BAR) & IORESOURCE_MEM)) {
		dev_err(&pdev->dev, "unexpected BARs: no register window or no memory BAR\n");
		return -ENODEV;
	}
	md = devm_kzalloc(&pdev->dev, sizeof(*md), GFP_KERNEL);
	if (!md)
		return -ENOMEM;
	err = pci_request_regions(pdev, KBUILD_MODNAME);
	if (err)
		return err;
	regs = pci_iomap(pdev, 0, PTNET_MD_REGS_LEN);
	if (!regs) {
		err = -ENOMEM;
		goto fail;
	}
	info.nr_memsize = md_read(regs, PTNET_MD_MEMSIZE_LO) |
			  (u64)md_read(regs, PTNET_MD_MEMSIZE_HI) << 32;
	info.nr_if_pool_offset = md_read(regs, PTNET_MD_IF_OFS);
	info.nr_if_pool_objtotal = md_read(regs, PTNET_MD_IF_NUM);
	info.nr_if_pool_objsize = md_read(regs, PTNET_MD_IF_SIZE);
	info.nr_ring_pool_offset = md_read(regs, PTNET_MD_RING_OFS);
	info.nr_ring_pool_objtotal = md_read(regs, PTNET_MD_RING_NUM);
	info.nr_ring_pool_objsize = md_read(regs, PTNET_MD_RING_SIZE);
	info.nr_buf_pool_offset = md_read(regs, PTNET_MD_BUF_OFS);
	info.nr_buf_pool_objtotal = md_read(regs, PTNET_MD_BUF_NUM);
	info.nr_buf_pool_objsize = md_read(regs, PTNET_MD_BUF_SIZE);
	md->host_id = md_read(regs, PTNET_MD_MEMID);
	pci_iounmap(pdev, regs);

	md->mem = netmap_mem_new_iomem(pci_resource_start(pdev,
							  PTNET_MD_MEM_BAR),
				       pci_resource_len(pdev, PTNET_MD_MEM_BAR),
				       &info);
	if (IS_ERR(md->mem)) {
		err = PTR_ERR(md->mem);
		dev_err(&pdev->dev, "host region %u (%llu bytes, BAR of %llu): %s (%d)\n",
			md->host_id, info.nr_memsize,
			(u64)pci_resource_len(pdev, PTNET_MD_MEM_BAR),
			err == -EINVAL ? "bad geometry" : "cannot map it", err);
		goto fail;
	}

	mutex_lock(&ptnet_memdevs_lock);
	list_for_each_entry(other, &ptnet_memdevs, node) {
		if (other->host_id == md->host_id) {
			mutex_unlock(&ptnet_memdevs_lock);
			dev_err(&pdev->dev, "a second memdev for host region %u\n",
				md->host_id);
			netmap_mem_put(md->mem);
			err = -EEXIST;
			goto fail;
		}
	}
	list_add_tail(&md->node, &ptnet_memdevs);
	mutex_unlock(&ptnet_memdevs_lock);
	pci_set_drvdata(pdev, md);
	dev_info(&pdev->dev, "host region %u: %llu bytes, netmap region %u\n",
		 md->host_id, info.nr_memsize, md->mem->id);
	return 0;
fail:
	pci_release_regions(pdev);
	return err;
}

/* Ptnet devices and applications that use the region keep it alive. */
static void ptnet_memdev_remove(struct pci_dev *pdev)
{
	struct ptnet_memdev *md = pci_get_drvdata(pdev);

	mutex_lock(&ptnet_memdevs_lock);
	list_del(&md->node);
	mutex_unlock(&ptnet_memdevs_lock);
	netmap_mem_put(md->mem);
	pci_release_regions(pdev);
}

static const struct pci_device_id ptnet_memdev_ids[] = {
	{ PCI_DEVICE(PTNET_VENDOR, PTNET_MEMDEV_DEVICE),
	  .class = PCI_CLASS_MEMORY_RAM << 8, .class_mask = 0xffff00 },
	{ }
};
MODULE_DEVICE_TABLE(pci, ptnet_memdev_ids);

static struct pci_driver ptnet_memdev_driver = {
	.name = "ptnetmap-memdev",
	.id_table = ptnet_memdev_ids,
	.probe = ptnet_memdev_probe,
	.remove = ptnet_memdev_remove,
};

int ptnet_memdev_init(void)
{
	return pci_register_driver(&ptnet_memdev_driver);
}

void ptnet_memdev_exit(void)
{
	pci_unregister_driver(&ptnet_memdev_driver);
}
