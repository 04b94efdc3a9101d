// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * ptnet-pci: the guest side of a host netmap port passed through by the
 * VMM (QEMU's -netdev netmap,passthrough=on with -device ptnet-pci).
 *
 * Probe: read the geometry from BAR0 (rings, slots, the host port's
 * netmap_if, the host memory id), find the region of that id (memdev.c;
 * the probe is deferred until the memdev is there), negotiate the
 * virtio-net header (PTFEAT), allocate the CSB (one 64-byte entry per
 * ring, tx rings first, atok array then ktoa array) and tell the device
 * where it is, one MSI-X vector per ring, then the netdev and the netmap
 * port.
 *
 * The host loop runs while the device has users (ptnet_get/ptnet_put):
 * the netdev while it is up, netmap bindings while they exist. PTCTL
 * start answers synchronously (0, or an errno); a device that reads all
 * ones has gone away.
 *
 * Removal (unbind, hot-unplug, rmmod): the netdev goes first (which stops
 * its use of the host loop), then the interrupts, then the netmap port,
 * whose remaining bindings get -ENXIO from then on, then the CSB.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/dma-mapping.h>
#include <linux/errno.h>
#include <linux/etherdevice.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/pci.h>
#include <linux/slab.h>

#include "ptnet.h"
#include "ptnet_version.h"

bool ptnet_vnet_hdr;
module_param_named(vnet_hdr, ptnet_vnet_hdr, bool, 0444);
MODULE_PARM_DESC(vnet_hdr, "ask the host for a virtio-net header in front of each frame (default off)");

int ptnet_napi_weight = NAPI_POLL_WEIGHT;
module_param_named(napi_weight, ptnet_napi_weight, int, 0444);
MODULE_PARM_DESC(napi_weight, "frames per NAPI poll of an rx ring (1-64)");

/* ---------------------------------------------------------------------- */
/* Start and stop                                                          */
/* ---------------------------------------------------------------------- */

static const char *ptnet_ctl_name(u32 cmd)
{
	return cmd == PTNET_CTL_START ? "start" : "stop";
}

/* Write PTCTL and read the host's answer: 0, or a negative errno. */
static int ptnet_ctl(struct ptnet_dev *pt, u32 cmd)
{
	u32 ret;

	ptnet_iowrite(pt, PTNET_PTCTL, cmd);
	ret = ptnet_ioread(pt, PTNET_PTCTL);
	if (ret == ~0U) {
		dev_err(&pt->pdev->dev, "PTCTL %s: the device is gone\n",
			ptnet_ctl_name(cmd));
		return -ENODEV;
	}
	if (ret) {
		dev_err(&pt->pdev->dev, "PTCTL %s: the host answered error %u\n",
			ptnet_ctl_name(cmd), ret);
		return ret < 4096 ? -(int)ret : -EIO;
	}
	return 0;
}

/* Tell the device where the CSB is; the write to a BAL maps an array. */
static void ptnet_csb_program(struct ptnet_dev *pt, bool on)
{
	u64 atok = on ? pt->csb_dma : 0;
	u64 ktoa = on ? pt->csb_dma + pt->csb_size / 2 : 0;

	ptnet_iowrite(pt, PTNET_CSB_GH_BAH, upper_32_bits(atok));
	ptnet_iowrite(pt, PTNET_CSB_GH_BAL, lower_32_bits(atok));
	ptnet_iowrite(pt, PTNET_CSB_HG_BAH, upper_32_bits(ktoa));
	ptnet_iowrite(pt, PTNET_CSB_HG_BAL, lower_32_bits(ktoa));
}

/**
 * ptnet_get() - a user of the host loop arrives
 * @pt: the device, with pt->lock held
 *
 * The first one starts the loop, then every ring continues from the state
 * the host put in the CSB.
 *
 * Return: 0, -ENODEV when the device is being removed or gone, or the
 * host's error.
 */
int ptnet_get(struct ptnet_dev *pt)
{
	enum nm_txrx t;
	u32 i;
	int err;

	lockdep_assert_held(&pt->lock);
	if (pt->dead)
		return -ENODEV;
	if (pt->users++)
		return 0;
	memset(pt->csb, 0, pt->csb_size);
	ptnet_csb_program(pt, true);
	err = ptnet_ctl(pt, PTNET_CTL_START);
	for_each_dir(t)
		for (i = 0; i < pt->nrings[t] && !err; i++)
			err = ptnet_ring_state_load(&pt->rings[t][i]);
	if (err) {
		if (err == -EIO)
			dev_err(&pt->pdev->dev, "the host's CSB entries are out of range\n");
		ptnet_ctl(pt, PTNET_CTL_STOP);
		pt->users--;
	}
	return err;
}

/**
 * ptnet_put() - a user of the host loop leaves
 * @pt: the device, with pt->lock held
 */
void ptnet_put(struct ptnet_dev *pt)
{
	lockdep_assert_held(&pt->lock);
	if (WARN_ON(!pt->users) || --pt->users)
		return;
	ptnet_ctl(pt, PTNET_CTL_STOP);
}

/* ---------------------------------------------------------------------- */
/* Probe and removal                                                       */
/* ---------------------------------------------------------------------- */

/* The registers that fix the geometry; -EINVAL when they do not hold. */
static int ptnet_read_geometry(struct ptnet_dev *pt)
{
	struct device *dev = &pt->pdev->dev;
	u32 max_slots = netmap_mem_max_slots(pt->mem);
	enum nm_txrx t;

	pt->nrings[NM_TX] = ptnet_ioread(pt, PTNET_NUM_TX_RINGS);
	pt->nrings[NM_RX] = ptnet_ioread(pt, PTNET_NUM_RX_RINGS);
	pt->nslots[NM_TX] = ptnet_ioread(pt, PTNET_NUM_TX_SLOTS);
	pt->nslots[NM_RX] = ptnet_ioread(pt, PTNET_NUM_RX_SLOTS);
	for_each_dir(t) {
		if (!pt->nrings[t] || pt->nrings[t] > NM_MAX_RINGS ||
		    pt->nslots[t] < NM_MIN_SLOTS || pt->nslots[t] > max_slots) {
			dev_err(dev, "bad geometry: %u tx rings of %u slots, %u rx rings of %u slots\n",
				pt->nrings[NM_TX], pt->nslots[NM_TX],
				pt->nrings[NM_RX], pt->nslots[NM_RX]);
			return -EINVAL;
		}
	}
	if (pt->nrings[NM_TX] + pt->nrings[NM_RX] > PTNET_MAX_RINGS) {
		dev_err(dev, "%u rings: more than the %u KICK registers\n",
			pt->nrings[NM_TX] + pt->nrings[NM_RX],
			PTNET_MAX_RINGS);
		return -EINVAL;
	}
	return 0;
}

static int ptnet_rings_alloc(struct ptnet_dev *pt)
{
	u32 ntx = pt->nrings[NM_TX], n = ntx + pt->nrings[NM_RX];
	struct nm_csb_atok *atok;
	struct nm_csb_ktoa *ktoa;
	enum nm_txrx t;
	u32 i;

	pt->csb_size = PAGE_ALIGN(2 * n * sizeof(*atok));
	pt->csb = dma_alloc_coherent(&pt->pdev->dev, pt->csb_size,
				     &pt->csb_dma, GFP_KERNEL);
	if (!pt->csb)
		return -ENOMEM;
	atok = pt->csb;
	ktoa = pt->csb + pt->csb_size / 2;
	for_each_dir(t) {
		pt->rings[t] = devm_kcalloc(&pt->pdev->dev, pt->nrings[t],
					    sizeof(*pt->rings[t]), GFP_KERNEL);
		if (!pt->rings[t])
			return -ENOMEM;
		for (i = 0; i < pt->nrings[t]; i++) {
			struct ptnet_ring *r = &pt->rings[t][i];

			r->pt = pt;
			r->csb_idx = t == NM_TX ? i : ntx + i;
			r->atok = &atok[r->csb_idx];
			r->ktoa = &ktoa[r->csb_idx];
		}
	}
	return 0;
}

static void ptnet_irqs_free(struct ptnet_dev *pt)
{
	enum nm_txrx t;
	u32 i;

	for_each_dir(t) {
		for (i = 0; pt->rings[t] && i < pt->nrings[t]; i++) {
			struct ptnet_ring *r = &pt->rings[t][i];

			if (r->irq)
				free_irq(r->irq, r);
			r->irq = 0;
		}
	}
	pci_free_irq_vectors(pt->pdev);
}

/* One MSI-X vector per ring, in CSB order. */
static int ptnet_irqs_alloc(struct ptnet_dev *pt)
{
	u32 n = pt->nrings[NM_TX] + pt->nrings[NM_RX];
	enum nm_txrx t;
	int err;
	u32 i;

	err = pci_alloc_irq_vectors(pt->pdev, n, n, PCI_IRQ_MSIX);
	if (err < 0) {
		dev_err(&pt->pdev->dev, "cannot get %u MSI-X vectors: %d\n",
			n, err);
		return err;
	}
	for_each_dir(t) {
		for (i = 0; i < pt->nrings[t]; i++) {
			struct ptnet_ring *r = &pt->rings[t][i];
			int irq = pci_irq_vector(pt->pdev, r->csb_idx);

			snprintf(r->name, sizeof(r->name), "%s-%s%u",
				 pt->netdev->name, t == NM_TX ? "tx" : "rx", i);
			err = request_irq(irq, ptnet_irq, 0, r->name, r);
			if (err) {
				ptnet_irqs_free(pt);
				return err;
			}
			r->irq = irq;
		}
	}
	return 0;
}

static void ptnet_read_mac(struct ptnet_dev *pt, struct net_device *netdev)
{
	u32 lo = ptnet_ioread(pt, PTNET_MAC_LO);
	u32 hi = ptnet_ioread(pt, PTNET_MAC_HI);
	u8 mac[ETH_ALEN] = { hi >> 8, hi, lo >> 24, lo >> 16, lo >> 8, lo };

	if (is_valid_ether_addr(mac))
		eth_hw_addr_set(netdev, mac);
	else
		eth_hw_addr_random(netdev);
}

static void ptnet_dev_free(struct ptnet_dev *pt)
{
	if (pt->csb)
		dma_free_coherent(&pt->pdev->dev, pt->csb_size, pt->csb,
				  pt->csb_dma);
	if (pt->mem)
		netmap_mem_put(pt->mem);
	if (pt->io)
		pci_iounmap(pt->pdev, pt->io);
	pci_release_regions(pt->pdev);
	free_netdev(pt->netdev);
}

static int ptnet_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct net_device *netdev;
	struct ptnet_dev *pt;
	u32 feat, host_id;
	int err;

	err = pcim_enable_device(pdev);
	if (err)
		return err;
	if (pci_resource_len(pdev, 0) < PTNET_IO_LEN) {
		dev_err(&pdev->dev, "register window of %llu bytes, want %u\n",
			(u64)pci_resource_len(pdev, 0), PTNET_IO_LEN);
		return -ENODEV;
	}
	err = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (err)
		return err;
	err = pci_request_regions(pdev, KBUILD_MODNAME);
	if (err)
		return err;
	pci_set_master(pdev);

	pt = devm_kzalloc(&pdev->dev, sizeof(*pt), GFP_KERNEL);
	netdev = pt ? ptnet_netdev_alloc(pt) : NULL;
	if (!netdev) {
		pci_release_regions(pdev);
		return -ENOMEM;
	}
	pt->pdev = pdev;
	pt->netdev = netdev;
	mutex_init(&pt->lock);
	SET_NETDEV_DEV(netdev, &pdev->dev);
	pt->io = pci_iomap(pdev, 0, PTNET_IO_LEN);
	if (!pt->io) {
		err = -ENOMEM;
		goto fail;
	}
	host_id = ptnet_ioread(pt, PTNET_HOSTMEMID);
	pt->mem = ptnet_memdev_get(host_id);
	if (!pt->mem) {
		dev_info(&pdev->dev, "waiting for the memdev of host region %u\n",
			 host_id);
		err = -EPROBE_DEFER;
		goto fail;
	}
	err = ptnet_read_geometry(pt);
	if (err)
		goto fail;

	ptnet_iowrite(pt, PTNET_PTFEAT,
		      ptnet_vnet_hdr ? PTNET_FEAT_VNET_HDR : 0);
	feat = ptnet_ioread(pt, PTNET_PTFEAT);
	if (feat & PTNET_FEAT_VNET_HDR) {
		pt->hdr_len = ptnet_ioread(pt, PTNET_VNET_HDR_LEN);
		if (pt->hdr_len != 10 && pt->hdr_len != 12) {
			dev_err(&pdev->dev, "bad virtio-net header length %u\n",
				pt->hdr_len);
			err = -EINVAL;
			goto fail;
		}
	}
	ptnet_read_mac(pt, netdev);
	netdev->max_mtu = pt->mem->pools[NM_POOL_BUF].objsize - pt->hdr_len -
			  ETH_HLEN;
	netdev->mtu = min_t(unsigned int, ETH_DATA_LEN, netdev->max_mtu);
	netif_set_real_num_tx_queues(netdev, pt->nrings[NM_TX]);
	netif_set_real_num_rx_queues(netdev, pt->nrings[NM_RX]);

	err = ptnet_rings_alloc(pt);
	if (err)
		goto fail;
	ptnet_netdev_napi_add(pt);
	/* The name is final once registered; the port and IRQs use it. */
	err = dev_alloc_name(netdev, netdev->name);
	if (err < 0)
		goto fail;
	err = ptnet_port_create(pt, ptnet_ioread(pt, PTNET_NIFP_OFS));
	if (err) {
		dev_err(&pdev->dev, "the host port's netmap_if at %u does not match the device (%d)\n",
			ptnet_ioread(pt, PTNET_NIFP_OFS), err);
		goto fail;
	}
	err = ptnet_irqs_alloc(pt);
	if (err)
		goto fail_port;
	pci_set_drvdata(pdev, pt);
	netif_carrier_off(netdev);
	err = register_netdev(netdev);
	if (err)
		goto fail_irqs;
	dev_info(&pdev->dev, "%s: %u+%u rings of %u/%u slots, host region %u, vnet header %u, netmap:%s\n",
		 netdev->name, pt->nrings[NM_TX], pt->nrings[NM_RX],
		 pt->nslots[NM_TX], pt->nslots[NM_RX], host_id, pt->hdr_len,
		 pt->port->up.name);
	return 0;

fail_irqs:
	ptnet_irqs_free(pt);
fail_port:
	ptnet_port_destroy(pt);
fail:
	ptnet_dev_free(pt);
	return err;
}

static void ptnet_remove(struct pci_dev *pdev)
{
	struct ptnet_dev *pt = pci_get_drvdata(pdev);

	mutex_lock(&pt->lock);
	pt->dead = true;
	mutex_unlock(&pt->lock);
	unregister_netdev(pt->netdev);
	ptnet_irqs_free(pt);	/* before the port: the handlers use its rings */
	ptnet_port_destroy(pt);
	ptnet_csb_program(pt, false);
	ptnet_dev_free(pt);
}

static const struct pci_device_id ptnet_ids[] = {
	{ PCI_DEVICE(PTNET_VENDOR, PTNET_PCI_DEVICE),
	  .class = PCI_CLASS_NETWORK_ETHERNET << 8, .class_mask = 0xffff00 },
	{ }
};
MODULE_DEVICE_TABLE(pci, ptnet_ids);

static struct pci_driver ptnet_driver = {
	.name = "ptnet",
	.id_table = ptnet_ids,
	.probe = ptnet_probe,
	.remove = ptnet_remove,
};

static int __init ptnet_init(void)
{
	int err;

	if (ptnet_napi_weight < 1 || ptnet_napi_weight > NAPI_POLL_WEIGHT) {
		pr_err("napi_weight %d: outside 1-%d\n", ptnet_napi_weight,
		       NAPI_POLL_WEIGHT);
		return -EINVAL;
	}
	err = ptnet_memdev_init();
	if (err)
		return err;
	err = pci_register_driver(&ptnet_driver);
	if (err)
		ptnet_memdev_exit();
	return err;
}

static void __exit ptnet_exit(void)
{
	pci_unregister_driver(&ptnet_driver);
	ptnet_memdev_exit();
}

module_init(ptnet_init);
module_exit(ptnet_exit);
MODULE_DESCRIPTION("ptnet guest driver: netmap passthrough of host ports (ptnet-pci, ptnetmap-memdev)");
MODULE_LICENSE("Dual BSD/GPL");
MODULE_VERSION(PTNET_VERSION);
