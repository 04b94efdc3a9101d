// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The guest's half of the CSB protocol (abi.md, "Passthrough"), and the
 * netmap port (netmap:ethX) whose syncs use it.
 *
 * Per ring, the guest writes csb_atok and reads csb_ktoa; the host's
 * kloop (kernel/kloop.c) does the opposite:
 *
 *   publish  atok.cur, write barrier, atok.head    (slots handed over)
 *   kick     full barrier, then KICK(i) only if ktoa.kern_need_kick
 *   pull     ktoa.hwtail, read barrier, ktoa.hwcur (slots handed back)
 *   arm      atok.appl_need_kick = 1, full barrier, pull again: an
 *            interrupt comes for any hwtail move after that point
 *
 * The barriers are the virt_*() ones: the other side is a host thread,
 * also when this guest kernel is built for one CPU.
 *
 * The values the host writes are checked as well: an hwtail outside the
 * ring is ignored (and counted), so a broken host can stall a ring but
 * not make the guest touch slots it does not own.
 *
 * The netmap port has no rings of its own: its krings point at the host
 * rings in the region of the memdev, and every binding shares the host
 * port's netmap_if. txsync/rxsync run after the core validated head and
 * cur (kernel/ring.c), under kring->lock, and never wait for the host:
 * a host that does not answer leaves tail where it is, and poll() sleeps
 * until an interrupt or its timeout.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "ptnet.h"

void ptnet_ring_publish(struct ptnet_ring *r, u32 head, u32 cur)
{
	virt_wmb();	/* slot and buffer writes before the pointers */
	WRITE_ONCE(r->atok->cur, cur);
	virt_wmb();
	WRITE_ONCE(r->atok->head, head);
}

/* After a publish: wake the host loop if, and only if, it asked. */
void ptnet_ring_kick(struct ptnet_ring *r)
{
	virt_mb();	/* atok stores before the kern_need_kick load */
	if (READ_ONCE(r->ktoa->kern_need_kick)) {
		r->kicks++;
		ptnet_iowrite(r->pt, PTNET_KICK_BASE + 4 * r->csb_idx, 1);
	}
}

/*
 * Read what the host handed back into the kring: nr_hwtail (and rtail,
 * which the netdev path publishes to nobody but keeps consistent for a
 * later netmap binding). Returns true when hwtail moved.
 */
bool ptnet_ring_pull(struct ptnet_ring *r)
{
	struct netmap_kring *kring = r->kring;
	u32 hwtail, hwcur;

	hwtail = READ_ONCE(r->ktoa->hwtail);
	virt_rmb();
	hwcur = READ_ONCE(r->ktoa->hwcur);
	virt_rmb();	/* the pointers before the slots they cover */
	if (unlikely(hwtail >= kring->num_slots ||
		     hwcur >= kring->num_slots)) {
		if (!r->bad_ktoa++)
			pr_warn_ratelimited("%s: %s ring %u: host wrote hwcur %u hwtail %u (ring of %u slots); ignored\n",
					    kring->port->name,
					    kring->tx == NM_TX ? "tx" : "rx",
					    kring->ring_id, hwcur, hwtail,
					    kring->num_slots);
		return false;
	}
	if (hwtail == kring->nr_hwtail)
		return false;
	kring->nr_hwtail = hwtail;
	return true;
}

/*
 * Ask for an interrupt before waiting for the host: set appl_need_kick,
 * then look once more. Returns true when there is something after all
 * (slot @cur is no longer the tail), with the request withdrawn.
 */
bool ptnet_ring_arm(struct ptnet_ring *r, u32 cur)
{
	WRITE_ONCE(r->atok->appl_need_kick, 1);
	virt_mb();	/* appl_need_kick before the ktoa loads */
	ptnet_ring_pull(r);
	if (r->kring->nr_hwtail == cur)
		return false;
	ptnet_ring_disarm(r);
	return true;
}

void ptnet_ring_disarm(struct ptnet_ring *r)
{
	WRITE_ONCE(r->atok->appl_need_kick, 0);
}

/*
 * The ring state after PTCTL start: the host filled the CSB from its own
 * rings (CSB_ENABLE), so the guest continues from there.
 */
int ptnet_ring_state_load(struct ptnet_ring *r)
{
	struct netmap_kring *kring = r->kring;
	u32 n = kring->num_slots;
	u32 head = READ_ONCE(r->atok->head);
	u32 cur = READ_ONCE(r->atok->cur);
	u32 hwtail = READ_ONCE(r->ktoa->hwtail);

	if (head >= n || cur >= n || hwtail >= n)
		return -EIO;
	spin_lock(&kring->lock);
	kring->rhead = head;
	kring->rcur = head;
	kring->nr_hwcur = head;
	kring->nr_hwtail = hwtail;
	kring->rtail = hwtail;
	spin_unlock(&kring->lock);
	WRITE_ONCE(r->atok->cur, head);
	WRITE_ONCE(r->atok->appl_need_kick, 0);
	return 0;
}

/* The kernel address of a buffer of the ring's region; NULL if invalid. */
void *ptnet_buf(struct ptnet_ring *r, u32 idx)
{
	struct netmap_mem *mem = r->pt->mem;
	u32 len = r->kring->buf_size;

	if (unlikely(!netmap_buf_idx_ok(mem, idx)))
		return NULL;
	return netmap_buf_chunk(mem, idx, 0, &len);
}

/* ---------------------------------------------------------------------- */
/* The netmap port                                                         */
/* ---------------------------------------------------------------------- */

static struct ptnet_port *ptnet_port_of(struct netmap_port *port)
{
	return container_of(port, struct ptnet_port, up);
}

/* The device behind a ring; NULL once removed. kring->lock held. */
static struct ptnet_ring *ptnet_kring_ring(struct netmap_kring *kring)
{
	struct ptnet_dev *pt = READ_ONCE(ptnet_port_of(kring->port)->pt);

	if (unlikely(!pt))
		return NULL;
	return &pt->rings[kring->tx][kring->ring_id];
}

/*
 * Both syncs: hand [nr_hwcur, rhead) over, kick if asked, take back what
 * the host released, and ask for an interrupt when the application will
 * have to wait (cur reached the tail).
 */
static int ptnet_nm_sync(struct netmap_kring *kring)
{
	struct ptnet_ring *r = ptnet_kring_ring(kring);

	if (!r)
		return -ENXIO;
	if (kring->rhead != kring->nr_hwcur ||
	    READ_ONCE(r->atok->cur) != kring->rcur) {
		ptnet_ring_publish(r, kring->rhead, kring->rcur);
		kring->nr_hwcur = kring->rhead;
		ptnet_ring_kick(r);
	}
	ptnet_ring_pull(r);
	if (kring->rcur != kring->nr_hwtail)
		ptnet_ring_disarm(r);
	else
		ptnet_ring_arm(r, kring->rcur);
	return 0;
}

/* The first binding: start the host loop, take the rings from the netdev. */
static int ptnet_nm_activate(struct netmap_port *port)
{
	struct ptnet_dev *pt = ptnet_port_of(port)->pt;
	int err;

	if (!pt)
		return -ENXIO;
	mutex_lock(&pt->lock);
	err = ptnet_get(pt);
	if (!err) {
		ptnet_netdev_quiesce(pt);
		pt->nm_active = true;
	}
	mutex_unlock(&pt->lock);
	return err;
}

/*
 * The last binding is gone: the netdev gets the rings back. The binding's
 * core reference holds this module (ptnet_port_ops.owner) until our dtor
 * has returned.
 */
static void ptnet_nm_deactivate(struct netmap_port *port)
{
	struct ptnet_dev *pt = ptnet_port_of(port)->pt;

	if (!pt)
		return;
	mutex_lock(&pt->lock);
	pt->nm_active = false;
	ptnet_netdev_resume(pt);
	ptnet_put(pt);
	mutex_unlock(&pt->lock);
}

static void ptnet_nm_dtor(struct netmap_port *port)
{
	struct ptnet_port *pp = ptnet_port_of(port);

	netmap_port_krings_free(port);
	netmap_mem_put(port->mem);
	netmap_port_fini(port);
	kfree(pp);
}

static const struct netmap_port_ops ptnet_port_ops = {
	.activate = ptnet_nm_activate,
	.deactivate = ptnet_nm_deactivate,
	.txsync = ptnet_nm_sync,
	.rxsync = ptnet_nm_sync,
	.dtor = ptnet_nm_dtor,
	.owner = THIS_MODULE,
};

/*
 * The host ring @t/@i as the host port's netmap_if lists it, checked
 * against the device's geometry: inside the ring pool, with the expected
 * slots, buffer size and buffer pool.
 */
static struct netmap_ring *ptnet_host_ring(struct ptnet_dev *pt,
					   struct netmap_if *nifp, u64 nifp_ofs,
					   enum nm_txrx t, u32 i)
{
	struct netmap_mem *mem = pt->mem;
	const struct netmap_pool *rp = &mem->pools[NM_POOL_RING];
	const struct netmap_pool *bp = &mem->pools[NM_POOL_BUF];
	u32 slot = t == NM_TX ? i : nifp->ni_tx_rings +
				    nifp->ni_host_tx_rings + i;
	s64 rel = READ_ONCE(nm_if_ring_ofs(nifp)[slot]);
	u64 ofs = nifp_ofs + rel;
	struct netmap_ring *ring;

	if (rel <= 0 || ofs < rp->offset ||
	    ofs + sizeof(*ring) + (u64)pt->nslots[t] *
	    sizeof(struct netmap_slot) > rp->offset + (u64)rp->objtotal *
	    rp->objsize)
		return NULL;
	ring = mem->backing->map(mem, ofs, sizeof(*ring));
	if (!ring || ring->num_slots != pt->nslots[t] ||
	    ring->nr_buf_size != bp->objsize ||
	    ofs + ring->buf_ofs != bp->offset)
		return NULL;
	return ring;
}

/**
 * ptnet_port_create() - the netmap port of a device
 * @pt: the device, with its region, geometry and netdev name set
 * @nifp_ofs: NIFP_OFS, the host port's netmap_if in the region
 *
 * Registers the port under the netdev's name, so that netmap:ethX finds
 * it before the emulated adapter would.
 *
 * Return: 0, -EINVAL when the host's netmap_if or rings do not match the
 * device's registers, or -ENOMEM.
 */
int ptnet_port_create(struct ptnet_dev *pt, u64 nifp_ofs)
{
	struct netmap_mem *mem = pt->mem;
	const struct netmap_pool *ip = &mem->pools[NM_POOL_IF];
	struct netmap_if *nifp;
	struct ptnet_port *pp;
	struct netmap_port *port;
	enum nm_txrx t;
	u32 i, nofs;
	int err;

	if (nifp_ofs < ip->offset ||
	    nifp_ofs + sizeof(*nifp) > ip->offset + (u64)ip->objtotal *
	    ip->objsize)
		return -EINVAL;
	nifp = mem->backing->map(mem, nifp_ofs, sizeof(*nifp));
	if (!nifp)
		return -EINVAL;
	nofs = nifp->ni_tx_rings + nifp->ni_host_tx_rings +
	       nifp->ni_rx_rings + nifp->ni_host_rx_rings;
	if (nifp->ni_tx_rings != pt->nrings[NM_TX] ||
	    nifp->ni_rx_rings != pt->nrings[NM_RX] ||
	    nifp->ni_host_tx_rings > NM_MAX_RINGS ||
	    nifp->ni_host_rx_rings > NM_MAX_RINGS ||
	    nifp_ofs + sizeof(*nifp) + (u64)nofs * sizeof(ssize_t) >
	    ip->offset + (u64)ip->objtotal * ip->objsize)
		return -EINVAL;

	pp = kzalloc(sizeof(*pp), GFP_KERNEL);
	if (!pp)
		return -ENOMEM;
	port = &pp->up;
	netmap_port_init(port, &ptnet_port_ops);
	strscpy(port->name, pt->netdev->name, sizeof(port->name));
	port->mem = mem;
	netmap_mem_get(mem);
	netmap_port_set_admin(port, dev_net(pt->netdev));	/* a NIC */
	port->pt_nifp = nifp;
	port->pt_nifp_ofs = nifp_ofs;
	for_each_dir(t) {
		port->nrings[t] = pt->nrings[t];
		port->nslots[t] = pt->nslots[t];
	}
	/* Reported as the host's netmap_if says; never bindable here. */
	port->nhost[NM_TX] = nifp->ni_host_tx_rings;
	port->nhost[NM_RX] = nifp->ni_host_rx_rings;
	port->host_rings = false;
	port->host_reported = true;
	err = netmap_port_krings_alloc(port);
	if (err)
		goto fail;
	for_each_dir(t) {
		for (i = 0; i < pt->nrings[t]; i++) {
			struct netmap_kring *kring = &port->krings[t][i];

			kring->ring = ptnet_host_ring(pt, nifp, nifp_ofs, t, i);
			if (!kring->ring) {
				dev_err(&pt->pdev->dev, "host %s ring %u does not match the device\n",
					t == NM_TX ? "tx" : "rx", i);
				err = -EINVAL;
				goto fail;
			}
			kring->nbufs = mem->pools[NM_POOL_BUF].objtotal;
			kring->buf_size = mem->pools[NM_POOL_BUF].objsize;
			kring->nr_hwtail = t == NM_TX ? kring->num_slots - 1 : 0;
			kring->rtail = kring->nr_hwtail;
			pt->rings[t][i].kring = kring;
		}
	}
	pp->pt = pt;
	pt->port = pp;
	netmap_port_publish(port);
	return 0;
fail:
	netmap_port_retire(port, NULL);
	return err;
}

/*
 * Cut the port from its device (netmap_port_retire() calls this with no
 * activate or deactivate running): every sync from now on answers -ENXIO,
 * sleepers wake up, and a netmap binding gives the device back.
 */
static void ptnet_port_detach(struct netmap_port *port)
{
	struct ptnet_port *pp = ptnet_port_of(port);
	struct ptnet_dev *pt = pp->pt;
	enum nm_txrx t;
	u32 i;

	for_each_dir(t) {
		for (i = 0; i < pt->nrings[t]; i++) {
			struct netmap_kring *kring = &port->krings[t][i];

			spin_lock(&kring->lock);
			WRITE_ONCE(pp->pt, NULL);
			netmap_kring_wake(kring);
			spin_unlock(&kring->lock);
		}
	}
	WRITE_ONCE(pp->pt, NULL);
	mutex_lock(&pt->lock);
	if (pt->nm_active) {
		pt->nm_active = false;
		ptnet_put(pt);
	}
	mutex_unlock(&pt->lock);
}

/**
 * ptnet_port_destroy() - the device goes away
 * @pt: the device, with its netdev unregistered already
 *
 * The port leaves the registry; bindings that remain keep it (and the
 * region) alive, but their syncs answer -ENXIO from now on and the host
 * loop is stopped under them.
 */
void ptnet_port_destroy(struct ptnet_dev *pt)
{
	netmap_port_retire(&pt->port->up, ptnet_port_detach);
	pt->port = NULL;
}
