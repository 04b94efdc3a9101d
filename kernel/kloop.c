// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The sync kloop: the host side of ptnetmap passthrough.
 *
 * NETMAP_REQ_SYNC_KLOOP_START keeps the calling thread (a VMM thread)
 * inside the ioctl, serving every bound ring of a descriptor in CSB mode
 * (csb.c). For each ring it reads the application's head and cur from
 * csb_atok, runs the ring's txsync or rxsync through the core's checks
 * (netmap_kring_sync_ptrs(): pointers and slots are validated there), and
 * publishes hwcur and hwtail in csb_ktoa. Order, as abi.md requires:
 *
 *   read atok.head, read barrier, read atok.cur;
 *   write ktoa.hwcur, write barrier, write ktoa.hwtail.
 *
 * Every ring is synced on every pass, so atok.sync_flags (the guest's
 * "force a reclaim / a read" hints) need no handling and are ignored.
 *
 * Notifications are suppressed both ways:
 *
 * - kernel to application: after a ring's hwtail moved (new rx packets,
 *   or tx slots completed), its irqfd is signalled only if
 *   atok.appl_need_kick is set. A full barrier separates the ktoa stores
 *   from that load; the application sets appl_need_kick, then a full
 *   barrier, then reads ktoa again before it sleeps on the irqfd.
 * - application to kernel: ktoa.kern_need_kick is 1 only while the loop
 *   sleeps (set, full barrier, atok looked at once more, then sleep), so a
 *   busy loop gets no kicks. With a DIRECT mode (below) it stays 1 on the
 *   rings that sync in the wake-up itself.
 *
 * The loop makes a pass over every ring and only sleeps after a pass that
 * moved nothing; kloop_wake.c says what wakes it. Without an ioeventfd on
 * every ring (for example without the eventfds option) it also polls:
 * every sleep_us microseconds (at most 1 s, more is EINVAL; 0 means
 * 100 us). With one on
 * every ring it sleeps until woken, or at most sleep_us when given, as a
 * safety net.
 *
 * SYNC_KLOOP_MODE {mode}: DIRECT_TX / DIRECT_RX run the exchange of the
 * tx / rx rings inside the ioeventfd wake-up, in the kicking thread,
 * instead of waking the loop (see kloop_wake.c for the context). They
 * need an ioeventfd and an irqfd on every ring (else EINVAL); on a port
 * whose syncs are not IRQ-safe they quietly fall back to the loop. A
 * per-ring spinlock makes each exchange (read atok, sync, write ktoa)
 * atomic between the loop and the wake-ups.
 *
 * Errors on the guest's side never stop the loop: a bad head, cur or slot
 * makes the core reset the ring to its last valid state, the loop
 * republishes ktoa (consistent again) and counts the error in the
 * kloop_errors module parameter, with a rate-limited warning, once per
 * distinct bad (head, cur). The ring then waits for sane pointers.
 *
 * START answers:
 *   descriptor not bound                           -ENXIO
 *   not in CSB mode                                -EINVAL
 *   a kloop already runs on the descriptor         -EBUSY
 *   sleep_us above 1000000                         -EINVAL
 *   bad eventfds or mode option                    -EINVAL (or the fd's
 *                                                  error, e.g. -EBADF)
 *   ended by SYNC_KLOOP_STOP or by close()         0
 *   ended by a signal                              -EINTR
 * STOP answers 0 when it stopped the loop of its descriptor, or, on a
 * descriptor in CSB mode whose loop has not started yet, the next one: the
 * STOP stays pending on the CSB and the next START returns 0 at once. So a
 * VMM that starts the loop in a thread stops it with one STOP and a join,
 * whether or not the thread has entered the loop yet; a STOP never waits.
 * A pending STOP goes with the CSB (CSB_ENABLE again, or unbind). A STOP
 * on a descriptor without a CSB stops the loops serving the port named in
 * the request, when run by the same process or with CAP_NET_ADMIN (-EPERM
 * otherwise); -ENOENT when no loop runs there.
 *
 * Locking: START runs with priv->lock held, as every control request, and
 * drops it while the loop runs, after marking the descriptor busy
 * (priv->kloop), so that STOP and the other requests of the descriptor
 * get through. nm_kloops_lock (a mutex, inside priv->lock) guards the
 * list of running loops. A ring's exchange lock (a spinlock, never taken
 * in interrupt context) nests inside the eventfd's wait-queue lock of a
 * DIRECT wake-up and outside kring->lock.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/errno.h>
#include <linux/hrtimer.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include "compat.h"
#include "kloop.h"

#define NM_KLOOP_DEFAULT_US	100
#define NM_KLOOP_MAX_US		USEC_PER_SEC

static DEFINE_MUTEX(nm_kloops_lock);
static LIST_HEAD(nm_kloops);

/* ---------------------------------------------------------------------- */
/* One ring                                                                */
/* ---------------------------------------------------------------------- */

static void nm_kloop_ring_error(struct nm_kloop_ring *kr, int err, u32 head,
				u32 cur)
{
	struct netmap_kring *kring = kr->kring;

	if (kr->bad && kr->bad_head == head && kr->bad_cur == cur)
		return;
	kr->bad = true;
	kr->bad_head = head;
	kr->bad_cur = cur;
	atomic_inc(&netmap_kloop_errors);
	pr_warn_ratelimited("%s: %s ring %u: bad CSB entry, head %u cur %u (%s, error %d): ring reset to hwcur %u hwtail %u\n",
			    kring->port->name,
			    kring->tx == NM_TX ? "tx" : "rx", kring->ring_id,
			    head, cur,
			    err == -ERANGE ? "pointers out of range" :
			    err == -EINVAL ? "bad slots" : "sync failed",
			    err, kr->pub_hwcur, kr->pub_hwtail);
}

/*
 * Exchange the pointers of one ring through the CSB. Returns true when
 * hwcur or hwtail moved; *tail_moved says whether hwtail did. Never
 * sleeps (see irqsafe_sync for the IRQs-off callers).
 */
bool nm_kloop_ring_sync(struct nm_kloop_ring *kr, bool *tail_moved)
{
	struct nm_csb_atok *atok = kr->atok;
	struct nm_csb_ktoa *ktoa = kr->ktoa;
	u32 head, cur, hwcur, hwtail;
	bool moved;
	int err;

	/*
	 * Not _irqsave: the loop syncs with IRQs on (a port's syncs may
	 * toggle BHs), and the wake-ups that sync here run in process
	 * context (in_task()), so an interrupt never takes this lock.
	 */
	spin_lock(&kr->lock);
	head = READ_ONCE(atok->head);
	smp_rmb();		/* head before cur: cur is never older */
	cur = READ_ONCE(atok->cur);
	WRITE_ONCE(kr->seen_head, head);
	err = netmap_kring_sync_ptrs(kr->kring, head, cur, &hwcur, &hwtail);
	if (unlikely(err))
		nm_kloop_ring_error(kr, err, head, cur);
	else
		kr->bad = false;
	*tail_moved = hwtail != kr->pub_hwtail;
	moved = *tail_moved || hwcur != kr->pub_hwcur;
	if (moved || unlikely(err)) {
		/* Republished after an error too: the guest may scribble. */
		WRITE_ONCE(ktoa->hwcur, hwcur);
		smp_wmb();	/* hwcur before hwtail */
		WRITE_ONCE(ktoa->hwtail, hwtail);
		kr->pub_hwcur = hwcur;
		kr->pub_hwtail = hwtail;
	}
	spin_unlock(&kr->lock);
	return moved;
}

/* Signal the irqfd of a ring whose hwtail moved, if the guest asked. */
static void nm_kloop_notify(struct nm_kloop_ring *kr)
{
	if (!kr->irq_ctx)
		return;
	smp_mb();	/* ktoa stores before the appl_need_kick load */
	if (READ_ONCE(kr->atok->appl_need_kick))
		nm_eventfd_signal(kr->irq_ctx);
}

/* Ask for ioeventfd kicks (@on) or not, on the rings the loop syncs. */
static void nm_kloop_want_kicks(struct netmap_kloop *kl, u32 on)
{
	u32 k;

	for (k = 0; k < kl->nrings; k++) {
		struct nm_kloop_ring *kr = &kl->rings[k];

		if (kr->io_file && !kr->direct)
			WRITE_ONCE(kr->ktoa->kern_need_kick, on);
	}
}

/* Did the guest move a head since the last exchange? */
static bool nm_kloop_heads_moved(struct netmap_kloop *kl)
{
	u32 k;

	for (k = 0; k < kl->nrings; k++) {
		struct nm_kloop_ring *kr = &kl->rings[k];

		if (READ_ONCE(kr->atok->head) != READ_ONCE(kr->seen_head))
			return true;
	}
	return false;
}

/* ---------------------------------------------------------------------- */
/* The loop                                                                */
/* ---------------------------------------------------------------------- */

/* Every ring once; true when something moved. */
static bool nm_kloop_pass(struct netmap_kloop *kl)
{
	bool busy = false;
	u32 k;

	for (k = 0; k < kl->nrings; k++) {
		struct nm_kloop_ring *kr = &kl->rings[k];
		bool tail_moved;

		if (nm_kloop_ring_sync(kr, &tail_moved))
			busy = true;
		if (atomic_read(&kr->irq_pending) &&
		    atomic_xchg(&kr->irq_pending, 0))
			tail_moved = true;
		if (tail_moved)
			nm_kloop_notify(kr);
	}
	return busy;
}

static void nm_kloop_sleep(struct netmap_kloop *kl)
{
	set_current_state(TASK_INTERRUPTIBLE);
	nm_kloop_want_kicks(kl, 1);
	smp_mb();	/* kern_need_kick stores before the atok loads */
	if (!atomic_read(&kl->pending) && !READ_ONCE(kl->stop) &&
	    !nm_kloop_heads_moved(kl)) {
		if (kl->period) {
			ktime_t t = kl->period;

			schedule_hrtimeout_range(&t, kl->period >> 3,
						 HRTIMER_MODE_REL);
		} else {
			schedule();
		}
	}
	__set_current_state(TASK_RUNNING);
	nm_kloop_want_kicks(kl, 0);
}

static int nm_kloop_run(struct netmap_kloop *kl)
{
	for (;;) {
		bool busy;

		atomic_xchg(&kl->pending, 0);	/* fully ordered, before the pass */
		busy = nm_kloop_pass(kl);
		if (READ_ONCE(kl->stop))
			return 0;
		if (signal_pending(current))
			return -EINTR;
		if (busy)
			cond_resched();
		else
			nm_kloop_sleep(kl);
	}
}

/* ---------------------------------------------------------------------- */
/* Setup                                                                   */
/* ---------------------------------------------------------------------- */

static void nm_kloop_free(struct netmap_kloop *kl)
{
	u32 k;

	nm_kloop_eventfds_put(kl);
	for (k = 0; k < kl->nrings; k++)
		WRITE_ONCE(kl->rings[k].ktoa->kern_need_kick, 0);
	kfree(kl);
}

/* Parse SYNC_KLOOP_MODE into DIRECT flags per ring; 0 or -EINVAL. */
static int nm_kloop_mode(struct netmap_kloop *kl, struct nmreq_option *opt)
{
	struct nmreq_opt_sync_kloop_mode *o =
		(struct nmreq_opt_sync_kloop_mode *)opt;
	u32 all = NM_OPT_SYNC_KLOOP_DIRECT_TX | NM_OPT_SYNC_KLOOP_DIRECT_RX;
	u32 k, mode;

	mode = o->mode;
	if (mode & ~all)
		return -EINVAL;
	if (!mode)
		return 0;
	for (k = 0; k < kl->nrings; k++) {
		struct nm_kloop_ring *kr = &kl->rings[k];
		u32 bit = kr->kring->tx == NM_TX ? NM_OPT_SYNC_KLOOP_DIRECT_TX :
						  NM_OPT_SYNC_KLOOP_DIRECT_RX;

		/* Direct syncs need every ring's eventfds. */
		if (!kr->io_file || !kr->irq_ctx)
			return -EINVAL;
		kr->direct = mode & bit;
	}
	return 0;
}

/* The longest sleep: see the top of this file. */
static ktime_t nm_kloop_period(struct netmap_kloop *kl, u32 sleep_us)
{
	bool all_kick = true;
	u32 k;

	for (k = 0; k < kl->nrings; k++)
		if (!kl->rings[k].io_file)
			all_kick = false;
	if (!sleep_us && all_kick)
		return 0;
	if (!sleep_us)
		sleep_us = NM_KLOOP_DEFAULT_US;
	return ns_to_ktime((u64)min_t(u32, sleep_us, NM_KLOOP_MAX_US) *
			   NSEC_PER_USEC);
}

/*
 * A new loop for the descriptor: the rings, the eventfds and the mode.
 * Option errors go to the option's nro_status.
 */
static int nm_kloop_new(struct netmap_priv *priv, struct netmap_port *port,
			const struct nmreq_sync_kloop_start *req,
			struct nmreq_option *eventfds,
			struct nmreq_option *mode,
			struct netmap_kloop **klp)
{
	struct netmap_csb *csb = priv->csb;
	struct netmap_kloop *kl;
	u32 k;
	int err;

	kl = kzalloc(struct_size(kl, rings, csb->nrings), GFP_KERNEL);
	if (!kl)
		return -ENOMEM;
	kl->nrings = csb->nrings;
	kl->port = port;
	for (k = 0; k < kl->nrings; k++) {
		struct nm_kloop_ring *kr = &kl->rings[k];
		struct netmap_kring *kring = netmap_csb_kring(priv, port, k);

		kr->kl = kl;
		kr->kring = kring;
		kr->atok = &csb->atok[k];
		kr->ktoa = &csb->ktoa[k];
		spin_lock_init(&kr->lock);
		spin_lock(&kring->lock);
		kr->pub_hwcur = kring->nr_hwcur;
		kr->pub_hwtail = kring->rtail;
		spin_unlock(&kring->lock);
		/* The first pass republishes, whatever the guest wrote. */
		kr->pub_hwtail = ~kr->pub_hwtail;
		kr->seen_head = kring->rhead;
	}
	if (eventfds) {
		err = nm_kloop_eventfds(kl, eventfds);
		if (err) {
			eventfds->nro_status = -err;
			goto fail;
		}
	}
	if (mode) {
		err = nm_kloop_mode(kl, mode);
		if (err) {
			mode->nro_status = -err;
			goto fail;
		}
		if (!port->ops->irqsafe_sync)
			pr_info_ratelimited("%s: DIRECT kloop mode: syncs run in the loop (the port's syncs need IRQs on)\n",
					    port->name);
	}
	kl->period = nm_kloop_period(kl, req->sleep_us);
	kl->task = current;
	kl->mm = current->mm;
	kl->files = current->files;
	atomic_set(&kl->pending, 1);
	for (k = 0; k < kl->nrings; k++) {
		struct nm_kloop_ring *kr = &kl->rings[k];

		if (kr->direct && !port->ops->irqsafe_sync)
			kr->direct = false;
		WRITE_ONCE(kr->ktoa->kern_need_kick, kr->direct);
	}
	*klp = kl;
	return 0;
fail:
	nm_kloop_free(kl);
	return err;
}

/**
 * netmap_kloop_start() - NETMAP_REQ_SYNC_KLOOP_START
 * @priv: the descriptor, with priv->lock held (dropped while the loop
 *	runs, held again on return)
 * @req: the body
 * @eventfds: the SYNC_KLOOP_EVENTFDS option, or NULL
 * @mode: the SYNC_KLOOP_MODE option, or NULL
 *
 * Return: see the table at the top of this file.
 */
int netmap_kloop_start(struct netmap_priv *priv,
		       const struct nmreq_sync_kloop_start *req,
		       struct nmreq_option *eventfds,
		       struct nmreq_option *mode)
{
	struct netmap_port *port = netmap_priv_port(priv);
	struct netmap_kloop *kl;
	int err;

	lockdep_assert_held(&priv->lock);
	if (!port)
		return -ENXIO;
	if (!priv->csb)
		return -EINVAL;
	if (priv->kloop)
		return -EBUSY;
	if (req->sleep_us > NM_KLOOP_MAX_US)
		return -EINVAL;
	err = nm_kloop_new(priv, port, req, eventfds, mode, &kl);
	if (err)
		return err;
	if (priv->csb->stop_pending) {
		priv->csb->stop_pending = false;
		nm_kloop_free(kl);
		return 0;
	}

	priv->kloop = kl;
	mutex_lock(&nm_kloops_lock);
	list_add_tail(&kl->node, &nm_kloops);
	mutex_unlock(&nm_kloops_lock);
	atomic_inc(&netmap_kloop_count);
	nm_kloop_listen(kl);
	mutex_unlock(&priv->lock);

	err = nm_kloop_run(kl);

	mutex_lock(&priv->lock);
	nm_kloop_unlisten(kl);
	mutex_lock(&nm_kloops_lock);
	list_del(&kl->node);
	mutex_unlock(&nm_kloops_lock);
	priv->kloop = NULL;
	atomic_dec(&netmap_kloop_count);
	nm_kloop_free(kl);
	return err;
}

static void nm_kloop_ask_stop(struct netmap_kloop *kl)
{
	WRITE_ONCE(kl->stop, true);
	nm_kloop_wake(kl);
}

/**
 * netmap_kloop_stop() - NETMAP_REQ_SYNC_KLOOP_STOP
 * @priv: the descriptor, with priv->lock held
 * @name: the port named in the request
 *
 * Return: see the table at the top of this file.
 */
int netmap_kloop_stop(struct netmap_priv *priv, const char *name)
{
	struct netmap_kloop *kl;
	int err = -ENOENT;

	lockdep_assert_held(&priv->lock);
	if (priv->kloop) {
		nm_kloop_ask_stop(priv->kloop);
		return 0;
	}
	if (priv->csb) {
		priv->csb->stop_pending = true;
		return 0;
	}
	if (!name[0])
		return -ENOENT;
	mutex_lock(&nm_kloops_lock);
	list_for_each_entry(kl, &nm_kloops, node) {
		if (strcmp(kl->port->name, name))
			continue;
		if (kl->mm != current->mm && !capable(CAP_NET_ADMIN)) {
			if (err == -ENOENT)
				err = -EPERM;
			continue;
		}
		nm_kloop_ask_stop(kl);
		err = 0;
	}
	mutex_unlock(&nm_kloops_lock);
	return err;
}

/**
 * netmap_kloop_flush() - the descriptor is being closed by @owner
 * @priv: the descriptor
 * @owner: the file table close() works on
 *
 * A close() by the process whose thread runs the loop (the same file
 * table) ends the loop: the descriptor is going away under it. Closes in
 * other processes (children that inherited the descriptor) do not.
 */
void netmap_kloop_flush(struct netmap_priv *priv, fl_owner_t owner)
{
	mutex_lock(&priv->lock);
	if (priv->kloop && priv->kloop->files == owner)
		nm_kloop_ask_stop(priv->kloop);
	mutex_unlock(&priv->lock);
}
