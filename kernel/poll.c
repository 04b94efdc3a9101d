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
 * Every other caller (epoll, io_uring, aio) registers once, when it starts
 * watching, and counts on that registration for good: its calls always
 * register, ready or not. The two are told apart by the queueing function
 * in the poll table: poll() and select() use the one poll_initwait()
 * installs, read once at load time.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cache.h>
#include <linux/fs.h>
#include <linux/poll.h>
#include <linux/slab.h>

#include "netmap_kern.h"

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
		/* What poll() or select() counts: it will not sleep. */
		if (mask & events)
			return mask;
	}
	nm_poll_register(priv, port, file, wait, want_tx, want_rx);
	return mask | nm_poll_syncs(priv, port, want_tx, want_rx);
}
