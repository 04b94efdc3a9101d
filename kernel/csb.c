// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * CSB mode: the bound rings of a descriptor exchange their pointers
 * through two arrays in user memory, the CSB, instead of the shared ring
 * headers. This is how a ptnet guest drives host rings: the guest owns
 * the ring headers it sees, and a kloop (kloop.c) copies pointers between
 * the CSB and the kernel rings.
 *
 * The arrays hold one 64-byte entry per bound ring, tx rings first, then
 * rx rings: csb_atok (application to kernel: head, cur, appl_need_kick,
 * sync_flags) and csb_ktoa (kernel to application: hwcur, hwtail,
 * kern_need_kick). Everything in them is hostile: it is read once, into
 * locals, and checked before use (ring.c).
 *
 * Memory: NETMAP_REQ_CSB_ENABLE pins the pages of both arrays (a
 * long-term pin, as for any memory a device keeps using) and maps them
 * into the kernel with vmap(). A kloop then reaches them from any context
 * - its own ioctl, or an eventfd wake-up run by another thread with IRQs
 * off - without faulting and whatever the current mm. The pin is dropped
 * when the descriptor unbinds or enables another CSB. Pinning is also the
 * accessibility test: the pages must be present or faultable, readable
 * and writable. A later munmap() of the arrays does not reach the kernel's
 * view; that only hurts the application.
 *
 * NETMAP_REQ_CSB_ENABLE, with the CSB option (REGISTER may carry the option
 * too: netmap_csb_register()):
 *
 *   descriptor not bound (or not yet)              -ENXIO
 *   bound without NR_EXCLUSIVE                     -EINVAL
 *   a kloop runs on the descriptor                 -EBUSY
 *   no CSB option                                  -EINVAL
 *   no ring bound (a null port without rings)      0, nothing done
 *   csb_atok and csb_ktoa both 0                   leave CSB mode: 0
 *   only one of them 0, one not 64-byte aligned,
 *   or the two arrays overlap                      -EINVAL
 *   an array not readable and writable             -EFAULT
 *
 * The option's nro_status gets 0, or the error when the option's content
 * was at fault.
 *
 * Entering CSB mode marks each bound ring (kring->csb, under the ring's
 * lock), so the ioctl and poll syncs of the descriptor answer -EBUSY and
 * EPOLLERR from then on, and initialises each entry from the ring: ktoa
 * gets hwcur and the tail last published, atok gets head and cur (its
 * other fields are left alone). Leaving it, the ring headers are reset
 * from the kernel's state, so the ioctl syncs work again.
 *
 * Locking: everything here runs under priv->lock; a ring's csb flag also
 * under its kring->lock.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "csb.h"

/**
 * netmap_csb_nrings() - CSB entries of a bound descriptor
 * @priv: the descriptor
 *
 * Return: its bound rings, tx and rx.
 */
u32 netmap_csb_nrings(const struct netmap_priv *priv)
{
	return priv->last[NM_TX] - priv->first[NM_TX] +
	       priv->last[NM_RX] - priv->first[NM_RX];
}

/**
 * netmap_csb_kring() - the ring behind CSB entry @k
 * @priv: a bound descriptor
 * @port: its port
 * @k: the entry, below netmap_csb_nrings()
 *
 * Return: the kernel ring: bound tx rings first, then bound rx rings.
 */
struct netmap_kring *netmap_csb_kring(const struct netmap_priv *priv,
				      struct netmap_port *port, u32 k)
{
	u32 ntx = priv->last[NM_TX] - priv->first[NM_TX];

	if (k < ntx)
		return &port->krings[NM_TX][priv->first[NM_TX] + k];
	return &port->krings[NM_RX][priv->first[NM_RX] + k - ntx];
}

static void nm_csb_area_free(struct nm_csb_area *a)
{
	if (a->vaddr)
		vunmap(a->vaddr);
	if (a->npages)
		unpin_user_pages_dirty_lock(a->pages, a->npages, true);
	kfree(a->pages);
	*a = (struct nm_csb_area){};
}

/* Pin and map @size bytes at @uaddr; the kernel address goes to @kaddr. */
static int nm_csb_area_map(struct nm_csb_area *a, u64 uaddr, size_t size,
			   void **kaddr)
{
	unsigned int npages = DIV_ROUND_UP(offset_in_page(uaddr) + size,
					   PAGE_SIZE);
	int got;

	if (!access_ok(u64_to_user_ptr(uaddr), size))
		return -EFAULT;
	a->pages = kcalloc(npages, sizeof(*a->pages), GFP_KERNEL);
	if (!a->pages)
		return -ENOMEM;
	got = pin_user_pages_fast(uaddr & PAGE_MASK, npages,
				  FOLL_WRITE | FOLL_LONGTERM, a->pages);
	if (got > 0)
		a->npages = got;
	if (got != npages) {
		nm_csb_area_free(a);
		return got == -ENOMEM ? -ENOMEM : -EFAULT;
	}
	a->vaddr = vmap(a->pages, npages, VM_MAP, PAGE_KERNEL);
	if (!a->vaddr) {
		nm_csb_area_free(a);
		return -ENOMEM;
	}
	*kaddr = a->vaddr + offset_in_page(uaddr);
	return 0;
}

static void nm_csb_free(struct netmap_csb *csb)
{
	nm_csb_area_free(&csb->area[0]);
	nm_csb_area_free(&csb->area[1]);
	kfree(csb);
	atomic_dec(&netmap_csb_count);
}

/* Check the option and map the arrays it names. */
static int nm_csb_new(struct nmreq_option *opt, u32 nrings,
		      struct netmap_csb **csbp)
{
	struct nmreq_opt_csb *o = (struct nmreq_opt_csb *)opt;
	size_t size = (size_t)nrings * sizeof(struct nm_csb_atok);
	u64 atok = o->csb_atok, ktoa = o->csb_ktoa;
	struct netmap_csb *csb;
	void *kaddr;
	int err;

	BUILD_BUG_ON(sizeof(struct nm_csb_atok) != sizeof(struct nm_csb_ktoa));
	*csbp = NULL;
	if (!atok && !ktoa)
		return 0;
	if (!atok || !ktoa ||
	    !IS_ALIGNED(atok, sizeof(struct nm_csb_atok)) ||
	    !IS_ALIGNED(ktoa, sizeof(struct nm_csb_ktoa)))
		return -EINVAL;
	/* Overlapping arrays: atok ends after ktoa starts and vice versa. */
	if (atok < ktoa + size && ktoa < atok + size)
		return -EINVAL;

	csb = kzalloc(sizeof(*csb), GFP_KERNEL);
	if (!csb)
		return -ENOMEM;
	atomic_inc(&netmap_csb_count);
	csb->nrings = nrings;
	err = nm_csb_area_map(&csb->area[0], atok, size, &kaddr);
	if (err)
		goto fail;
	csb->atok = kaddr;
	err = nm_csb_area_map(&csb->area[1], ktoa, size, &kaddr);
	if (err)
		goto fail;
	csb->ktoa = kaddr;
	*csbp = csb;
	return 0;
fail:
	nm_csb_free(csb);
	return err;
}

/* Hand every bound ring to @csb and fill its entries from the rings. */
static void nm_csb_attach(struct netmap_priv *priv, struct netmap_port *port,
			  struct netmap_csb *csb)
{
	u32 k;

	for (k = 0; k < csb->nrings; k++) {
		struct netmap_kring *kring = netmap_csb_kring(priv, port, k);
		struct nm_csb_atok *atok = &csb->atok[k];
		struct nm_csb_ktoa *ktoa = &csb->ktoa[k];
		u32 head, cur, hwcur, hwtail;

		spin_lock(&kring->lock);
		kring->csb = true;
		head = kring->rhead;
		cur = kring->rcur;
		hwcur = kring->nr_hwcur;
		hwtail = kring->rtail;
		spin_unlock(&kring->lock);

		/* The writer's order of abi.md: cur before head. */
		WRITE_ONCE(atok->cur, cur);
		smp_wmb();
		WRITE_ONCE(atok->head, head);
		WRITE_ONCE(ktoa->kern_need_kick, 0);
		WRITE_ONCE(ktoa->hwcur, hwcur);
		smp_wmb();
		WRITE_ONCE(ktoa->hwtail, hwtail);
	}
}

/*
 * Take the rings back from the CSB; with @reset, make the shared ring
 * headers agree with the kernel again.
 */
static void nm_csb_detach(struct netmap_priv *priv, struct netmap_port *port,
			  struct netmap_csb *csb, bool reset)
{
	u32 k;

	for (k = 0; k < csb->nrings; k++) {
		struct netmap_kring *kring = netmap_csb_kring(priv, port, k);

		spin_lock(&kring->lock);
		kring->csb = false;
		spin_unlock(&kring->lock);
		if (reset)
			netmap_kring_user_reset(kring);
	}
}

/* Move the bound rings of @priv to the CSB that @opt names (or off CSB). */
static int nm_csb_switch(struct netmap_priv *priv, struct netmap_port *port,
			 struct nmreq_option *opt)
{
	struct netmap_csb *csb;
	int err;

	/* A binding without rings (a null port) has nothing to hand over. */
	if (!netmap_csb_nrings(priv))
		return 0;
	err = nm_csb_new(opt, netmap_csb_nrings(priv), &csb);
	if (err) {
		opt->nro_status = -err;
		return err;
	}
	if (priv->csb) {
		nm_csb_detach(priv, port, priv->csb, !csb);
		nm_csb_free(priv->csb);
	}
	priv->csb = csb;
	if (csb)
		nm_csb_attach(priv, port, csb);
	return 0;
}

/**
 * netmap_csb_enable() - NETMAP_REQ_CSB_ENABLE
 * @priv: the descriptor, with priv->lock held
 * @opt: the CSB option (handled, status 0), or NULL when not given
 *
 * Enters CSB mode, moves to another CSB, or leaves CSB mode when both
 * pointers are 0. See the table at the top of this file.
 *
 * Return: 0 or a negative errno.
 */
int netmap_csb_enable(struct netmap_priv *priv, struct nmreq_option *opt)
{
	struct netmap_port *port = netmap_priv_port(priv);

	lockdep_assert_held(&priv->lock);
	if (!port)
		return -ENXIO;
	if (!(priv->flags & NR_EXCLUSIVE))
		return -EINVAL;
	if (priv->kloop)
		return -EBUSY;
	if (!opt)
		return -EINVAL;
	return nm_csb_switch(priv, port, opt);
}

/**
 * netmap_csb_register() - the CSB option of a REGISTER
 * @priv: the descriptor, with priv->lock held, just bound by
 *	netmap_register() (not yet published)
 * @opt: the CSB option (handled, status 0)
 *
 * The binding starts in CSB mode, as after NETMAP_REQ_CSB_ENABLE; both
 * pointers 0 leave it out of CSB mode. Without NR_EXCLUSIVE the option's
 * status is EINVAL.
 *
 * Return: 0 or a negative errno, also in the option's status; the caller
 * then undoes the binding.
 */
int netmap_csb_register(struct netmap_priv *priv, struct nmreq_option *opt)
{
	lockdep_assert_held(&priv->lock);
	if (!(priv->flags & NR_EXCLUSIVE)) {
		opt->nro_status = EINVAL;
		return -EINVAL;
	}
	return nm_csb_switch(priv, priv->bound, opt);
}

/**
 * netmap_csb_release() - drop the CSB of a descriptor that unbinds
 * @priv: the descriptor, with priv->lock held or being released; still
 *	bound (priv->bound), and no kloop runs on it
 */
void netmap_csb_release(struct netmap_priv *priv)
{
	if (!priv->csb)
		return;
	nm_csb_detach(priv, priv->bound, priv->csb, false);
	nm_csb_free(priv->csb);
	priv->csb = NULL;
}
