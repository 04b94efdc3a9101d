// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * What wakes a sync kloop (kloop.c) and the eventfds behind it.
 *
 * The loop sleeps, interruptibly, until one of these wakes it:
 * - a write to a ring's ioeventfd: a wait-queue entry sits on each
 *   eventfd's wait queue, added through the file's poll with a custom
 *   poll_table (as vhost does); its callback consumes the counter;
 * - a wake-up of a bound ring's own wait queue (kring->wq): the peer of
 *   the port moved packets in, or took some out (pipes and VALE wake the
 *   rings they touch), so rx traffic and tx completions need no kick;
 * - SYNC_KLOOP_STOP, a signal, close(), or the poll period (kloop.c).
 * Every waker sets kl->pending before waking the thread, and the loop
 * clears it before each pass and looks at it before sleeping, so no
 * wake-up is lost; only the first waker after a pass pays for a
 * wake_up_process().
 *
 * SYNC_KLOOP_EVENTFDS gives one {ioeventfd, irqfd} pair per bound ring,
 * tx rings first: nro_size must be exactly 24 + 8 * rings (else EINVAL);
 * a negative fd means none for that ring; an fd that is not an eventfd
 * is EINVAL (EBADF when not open); the same eventfd as both fds of a ring
 * is EINVAL (the loop would kick itself forever). The loop holds a
 * reference to each eventfd until it returns.
 *
 * DIRECT modes: the ioeventfd callback of a DIRECT ring runs the ring's
 * exchange itself, in the kicking thread. It runs under the eventfd's
 * wait-queue spinlock with IRQs off, where nothing may sleep. The
 * exchange never sleeps (the syncs run under kring->lock, a spinlock, by
 * contract), and kloop.c makes a ring DIRECT only if its port declares
 * the syncs IRQ-safe (netmap_port_ops.irqsafe_sync: they toggle no BHs,
 * as in pipes; VALE's do, so VALE rings fall back to the loop). Here the
 * callback also checks in_task(): an eventfd signalled from an interrupt
 * only wakes the loop. An irqfd cannot be signalled inside another
 * eventfd's wake-up (eventfd refuses the nesting), so when the exchange
 * moved hwtail the callback leaves the notification to the loop
 * (irq_pending).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/err.h>
#include <linux/errno.h>
#include <linux/eventfd.h>
#include <linux/file.h>
#include <linux/kernel.h>
#include <linux/poll.h>
#include <linux/preempt.h>
#include <linux/sched.h>
#include <linux/wait.h>

#include "kloop.h"

/* Any context. Wakes the loop unless a wake-up is already pending. */
void nm_kloop_wake(struct netmap_kloop *kl)
{
	if (!atomic_xchg(&kl->pending, 1))
		wake_up_process(kl->task);
}

/* The port's peer touched one of our rings. Under kring->wq's lock. */
static int nm_kloop_ring_wake(wait_queue_entry_t *wait, unsigned int mode,
			      int sync, void *key)
{
	struct nm_kloop_ring *kr = container_of(wait, struct nm_kloop_ring,
						ring_wait);

	nm_kloop_wake(kr->kl);
	return 0;
}

/*
 * The guest kicked a ring. Runs under the eventfd's wait-queue lock, IRQs
 * off, in the kicker's context.
 */
static int nm_kloop_io_wake(wait_queue_entry_t *wait, unsigned int mode,
			    int sync, void *key)
{
	struct nm_kloop_ring *kr = container_of(wait, struct nm_kloop_ring,
						io_wait);
	bool tail_moved;
	u64 count;

	if (!(key_to_poll(key) & EPOLLIN))
		return 0;
	eventfd_ctx_do_read(kr->io_ctx, &count);
	if (kr->direct && in_task()) {
		nm_kloop_ring_sync(kr, &tail_moved);
		if (!tail_moved || !kr->irq_ctx)
			return 0;
		atomic_set(&kr->irq_pending, 1);
	}
	nm_kloop_wake(kr->kl);
	return 0;
}

static void nm_kloop_io_queue(struct file *file, wait_queue_head_t *wqh,
			      poll_table *pt)
{
	struct nm_kloop_ring *kr = container_of(pt, struct nm_kloop_ring,
						io_pt);

	if (kr->io_wqh)		/* an eventfd has one wait queue */
		return;
	kr->io_wqh = wqh;
	add_wait_queue(wqh, &kr->io_wait);
}

/* Start listening: ring wait queues, then the ioeventfds. */
void nm_kloop_listen(struct netmap_kloop *kl)
{
	u32 k;

	for (k = 0; k < kl->nrings; k++) {
		struct nm_kloop_ring *kr = &kl->rings[k];

		init_waitqueue_func_entry(&kr->ring_wait, nm_kloop_ring_wake);
		add_wait_queue(&kr->kring->wq, &kr->ring_wait);
		if (!kr->io_file)
			continue;
		init_waitqueue_func_entry(&kr->io_wait, nm_kloop_io_wake);
		init_poll_funcptr(&kr->io_pt, nm_kloop_io_queue);
		vfs_poll(kr->io_file, &kr->io_pt);
	}
}

/* Stop listening; no callback runs any more once this returns. */
void nm_kloop_unlisten(struct netmap_kloop *kl)
{
	u32 k;

	for (k = 0; k < kl->nrings; k++) {
		struct nm_kloop_ring *kr = &kl->rings[k];

		if (kr->io_wqh)
			remove_wait_queue(kr->io_wqh, &kr->io_wait);
		kr->io_wqh = NULL;
		remove_wait_queue(&kr->kring->wq, &kr->ring_wait);
	}
}

/* Take the fds of one ring; a negative fd means none. */
static int nm_kloop_ring_fds(struct nm_kloop_ring *kr,
			     const struct nm_kloop_eventfds *fds)
{
	s32 io = fds->ioeventfd, irq = fds->irqfd;
	struct eventfd_ctx *ctx;
	struct file *file;

	if (io >= 0) {
		file = eventfd_fget(io);
		if (IS_ERR(file))
			return PTR_ERR(file);
		kr->io_file = file;
		ctx = eventfd_ctx_fileget(file);
		if (IS_ERR(ctx))
			return PTR_ERR(ctx);
		kr->io_ctx = ctx;
	}
	if (irq >= 0) {
		ctx = eventfd_ctx_fdget(irq);
		if (IS_ERR(ctx))
			return PTR_ERR(ctx);
		kr->irq_ctx = ctx;
	}
	/* Kicking ourselves would wake the loop forever. */
	if (kr->io_ctx && kr->io_ctx == kr->irq_ctx)
		return -EINVAL;
	return 0;
}

/* Take the SYNC_KLOOP_EVENTFDS option; on error the caller puts them. */
int nm_kloop_eventfds(struct netmap_kloop *kl, struct nmreq_option *opt)
{
	struct nmreq_opt_sync_kloop_eventfds *o =
		(struct nmreq_opt_sync_kloop_eventfds *)opt;
	u32 k;
	int err;

	if (opt->nro_size != sizeof(*o) + kl->nrings * sizeof(o->eventfds[0]))
		return -EINVAL;
	for (k = 0; k < kl->nrings; k++) {
		err = nm_kloop_ring_fds(&kl->rings[k], &o->eventfds[k]);
		if (err)
			return err;
	}
	return 0;
}

/* Drop the eventfds of every ring (after nm_kloop_unlisten()). */
void nm_kloop_eventfds_put(struct netmap_kloop *kl)
{
	u32 k;

	for (k = 0; k < kl->nrings; k++) {
		struct nm_kloop_ring *kr = &kl->rings[k];

		if (kr->io_ctx)
			eventfd_ctx_put(kr->io_ctx);
		if (kr->io_file)
			fput(kr->io_file);
		if (kr->irq_ctx)
			eventfd_ctx_put(kr->irq_ctx);
		kr->io_ctx = kr->irq_ctx = NULL;
		kr->io_file = NULL;
	}
}
