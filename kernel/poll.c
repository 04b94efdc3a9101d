// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * poll, select and epoll on a bound descriptor.
 *
 * A poll syncs the bound rings and reports the directions that are ready.
 * A caller that may sleep gets the wait queues of the rings of the
 * directions it asked for registered first, then a full barrier, then the
 * syncs: a peer that moves after our syncs looked sees the registration
 * (netmap_kring_wake() checks for sleepers after its own barrier) and
 * wakes us, so no wake-up is lost.
 *
 * poll() and select() (fs/select.c) register only in their first pass over
 * their descriptors, and stop registering as soon as one is ready, because
 * then they do not sleep. When this descriptor is ready at that first
 * call, a registration would only be undone on return: each wait queue's
 * lock taken twice, and meanwhile every sync of the peer would see a
 * sleeper and wake a task that is running. So for them the rings are
 * synced first; only when nothing they asked for is ready are the wait
 * queues registered, and the rings synced again, behind the barrier.
 *
 * Before it registers, a poll() or select() that found nothing ready keeps
 * syncing for up to poll_spin_us, as long as no other task is runnable on
 * its CPU and no signal is pending. A peer that moves meanwhile is seen with
 * no wake-up at all: no sleeper on its wait queue, so its sync wakes nobody,
 * where a sleeping poller costs the peer a wake-up with the wait-queue lock
 * held across it, and the poller a second pass for the same lock on return.
 * That pair of wake-ups per batch is most of a poll-driven pipe's time.
 *
 * Every other caller (epoll, io_uring, aio) registers once, when it starts
 * watching, and counts on that registration for good: its calls always
 * register, ready or not. The two are told apart by the queueing function
 * in the poll table: poll() and select() use the one poll_initwait()
 * installs, read once at load time.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cache.h>
#include <linux/fs.h>
#include <linux/moduleparam.h>
#include <linux/poll.h>
#include <linux/sched/clock.h>
#include <linux/sched/signal.h>
#include <linux/sched/stat.h>
#include <linux/slab.h>

#include "netmap_kern.h"

/*
 * At most a millisecond, poll()'s own unit: the spin does not watch the
 * caller's timeout (its end is absolute, so a longer timeout is unchanged),
 * and a shorter one ends at most that late. A zero timeout never spins:
 * poll() and select() then pass no queueing function.
 */
static struct netmap_uint_param nm_poll_spin_us = { 20, 0, 1000 };
module_param_cb(poll_spin_us, &netmap_uint_param_ops, &nm_poll_spin_us, 0644);
MODULE_PARM_DESC(poll_spin_us,
		 "how long (us, up to 1000) a poll() or select() that finds nothing ready keeps syncing before it sleeps; 0: not at all");

/* The queueing function of poll() and select(), from poll_initwait(). */
static poll_queue_proc nm_select_qproc __ro_after_init;

/**
 * netmap_poll_init() - learn how poll() and select() queue (module load)
 *
 * Return: 0 or -ENOMEM.
 */
int __init netmap_poll_init(void)
{
	struct poll_wqueues *pwq = kzalloc(sizeof(*pwq), GFP_KERNEL);

	if (!pwq)
		return -ENOMEM;
	poll_initwait(pwq);
	nm_select_qproc = pwq->pt._qproc;
	poll_freewait(pwq);
	kfree(pwq);
	return 0;
}

/* The first pass of poll() or select(): registering may be skipped. */
static bool nm_first_select_pass(const poll_table *wait)
{
	return wait && nm_select_qproc && wait->_qproc == nm_select_qproc;
}

/* Sync the bound rings of one direction; report errors and readiness. */
static __poll_t nm_poll_dir(struct netmap_priv *priv,
			    struct netmap_port *port, enum nm_txrx t,
			    __poll_t ready)
{
	__poll_t mask = 0;
	u32 i;

	for (i = priv->first[t]; i < priv->last[t]; i++) {
		struct netmap_kring *kring = &port->krings[t][i];

		if (netmap_kring_sync(kring))
			mask |= EPOLLERR;
		else if (READ_ONCE(kring->rcur) != READ_ONCE(kring->rtail))
			mask |= ready;
	}
	return mask;
}

/* The syncs of one poll, as the binding's flags and the events ask. */
static __poll_t nm_poll_syncs(struct netmap_priv *priv,
			      struct netmap_port *port, bool want_tx,
			      bool want_rx)
{
	__poll_t mask = 0;

	if (want_tx || !(priv->flags & NR_NO_TX_POLL))
		mask |= nm_poll_dir(priv, port, NM_TX,
				    want_tx ? EPOLLOUT | EPOLLWRNORM : 0);
	if (want_rx || (priv->flags & NR_DO_RX_POLL))
		mask |= nm_poll_dir(priv, port, NM_RX,
				    want_rx ? EPOLLIN | EPOLLRDNORM : 0);
	return mask;
}

/*
 * Sync again until something asked for is ready, for up to poll_spin_us;
 * return the last syncs' mask. Only while this task is the only one
 * runnable on its CPU (the peer may be the one waiting for it), and giving
 * way to a pending signal.
 */
static __poll_t nm_poll_spin(struct netmap_priv *priv,
			     struct netmap_port *port, bool want_tx,
			     bool want_rx, __poll_t events)
{
	u64 budget = (u64)READ_ONCE(nm_poll_spin_us.val) * NSEC_PER_USEC;
	__poll_t mask = 0;
	u64 start;

	if (!budget)
		return 0;
	start = local_clock();
	while (single_task_running() && !need_resched() &&
	       !signal_pending(current) && local_clock() - start < budget) {
		cpu_relax();
		mask = nm_poll_syncs(priv, port, want_tx, want_rx);
		if (mask & (events | EPOLLERR))
			break;
	}
	return mask;
}

/* Queue @wait on the rings of the directions asked, then the barrier. */
static void nm_poll_register(struct netmap_priv *priv,
			     struct netmap_port *port, struct file *file,
			     poll_table *wait, bool want_tx, bool want_rx)
{
	u32 i;

	if (want_tx)
		for (i = priv->first[NM_TX]; i < priv->last[NM_TX]; i++)
			poll_wait(file, &port->krings[NM_TX][i].wq, wait);
	if (want_rx)
		for (i = priv->first[NM_RX]; i < priv->last[NM_RX]; i++)
			poll_wait(file, &port->krings[NM_RX][i].wq, wait);
	/* Queued before looking: pairs with wq_has_sleeper() of the waker. */
	smp_mb();
}

/**
 * netmap_priv_poll() - poll, select and epoll on a descriptor
 * @priv: the descriptor
 * @file: its file
 * @wait: the poll table
 *
 * The tx rings are synced unless NR_NO_TX_POLL (always when POLLOUT is
 * asked) and are writable when cur != tail; the rx rings are synced when
 * POLLIN is asked or with NR_DO_RX_POLL and are readable when cur != tail.
 *
 * Return: the ready events; EPOLLERR when unbound or a ring was bad.
 */
__poll_t netmap_priv_poll(struct netmap_priv *priv, struct file *file,
			  poll_table *wait)
{
	struct netmap_port *port = netmap_priv_port(priv);
	__poll_t events = poll_requested_events(wait);
	bool want_tx = events & (EPOLLOUT | EPOLLWRNORM);
	bool want_rx = events & (EPOLLIN | EPOLLRDNORM);
	__poll_t mask = 0;

	if (!port)
		return EPOLLERR;
	if (nm_first_select_pass(wait)) {
		mask = nm_poll_syncs(priv, port, want_tx, want_rx);
		if ((want_tx || want_rx) && !(mask & (events | EPOLLERR)))
			mask = nm_poll_spin(priv, port, want_tx, want_rx,
					    events);
		/* What poll() or select() counts: it will not sleep. */
		if (mask & events)
			return mask;
	}
	nm_poll_register(priv, port, file, wait, want_tx, want_rx);
	return mask | nm_poll_syncs(priv, port, want_tx, want_rx);
}
