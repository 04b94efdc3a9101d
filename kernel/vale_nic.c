// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * NICs in a VALE switch (VALE_ATTACH "valeS:IF" with IF a NIC port, see
 * generic.c), and the host stack of the NIC (NR_REG_NIC_SW, or the legacy
 * NETMAP_BDG_HOST) as a second member "valeS:IF^".
 *
 * The switch is an ordinary netmap user of the NIC: it binds the port
 * through the core (netmap_register() on a descriptor of its own, with
 * NR_EXCLUSIVE, so no application can bind the same rings meanwhile) and
 * drives the rings with netmap_kring_sync_ptrs(), keeping head and cur to
 * itself. For the NIC member the sources are the NIC's rx rings and the
 * destinations its tx rings; for the host member the host rx ring (what
 * the stack sends) and the host tx ring (what the stack receives).
 *
 * Sources are pulled either
 *   - on notification: a wait-queue entry on each source ring queues the
 *     member's work item when the ring's owner wakes its pollers; or
 *   - by polling threads (VALE_POLLING_ENABLE, NIC members only): one
 *     thread on CPU first_cpu for every ring (SINGLE_CPU), or one thread
 *     per ring, ring i on CPU i, for num_cpus rings from first_cpu on
 *     (MULTI_CPU). A thread pulls its rings in a loop while they have
 *     traffic, and goes on spinning for VALE_POLL_SPIN_US after the last
 *     packet; then it sleeps until a ring's owner wakes its pollers (the
 *     same wait-queue entry as in notification mode, which wakes the
 *     thread instead of queueing work), or VALE_POLL_IDLE_US pass. An
 *     idle switch costs no CPU.
 * Destinations are filled by the forwarders of the other members under
 * the destination's lock, which then sync the ring (vale_nic_push()).
 *
 * A persistent VALE port already in a switch A can be attached to a
 * second switch B the same way: B binds it like a NIC. Its rx rings (what
 * A forwards to it) are the sources, so they go into B; its tx rings are
 * the destinations, and their sync forwards what B sends into A. That sync
 * forwards in turn, so it never runs under a destination's lock (two
 * ports wrapped crosswise would take the same lock again): the forwarders
 * only fill the ring, and a work item of the member syncs it.
 *
 * Locking: attach binds the NIC before taking netmap_lock; detach takes
 * the member out under netmap_lock, stops its forwarding (the work item
 * and the threads never take netmap_lock), and unbinds after dropping it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpumask.h>
#include <linux/errno.h>
#include <linux/if.h>
#include <linux/kthread.h>
#include <linux/sched.h>
#include <linux/sched/clock.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "vale.h"

#define VALE_NIC_BUDGET	8	/* batches of one ring per work run */
#define VALE_POLL_SPIN_US	50	/* a polling thread spins this long */
#define VALE_POLL_IDLE_US	20000	/* then sleeps at most this long */
#define VALE_POLL_IDLE	(usecs_to_jiffies(VALE_POLL_IDLE_US) ?: 1)

struct vale_nic;
struct vale_poller;

/**
 * struct vale_nic_src - a ring the switch pulls packets from
 * @nic: its member
 * @kring: the ring
 * @head: the switch's head on it: slots before it were forwarded
 * @batch: the forwarding scratch
 * @wait: the entry on the ring's wait queue
 * @waiting: @wait is on the queue
 * @poller: polling mode: the thread @wait wakes
 */
struct vale_nic_src {
	struct vale_nic *nic;
	struct netmap_kring *kring;
	u32 head;
	struct vale_batch *batch;
	struct wait_queue_entry wait;
	bool waiting;
	struct vale_poller *poller;
};

/**
 * struct vale_poller - a polling thread
 * @nic: its member
 * @task: the thread
 * @first: the first ring it pulls
 * @count: how many
 * @kick: a ring had news since the thread last looked
 */
struct vale_poller {
	struct vale_nic *nic;
	struct task_struct *task;
	u32 first;
	u32 count;
	bool kick;
};

/**
 * struct vale_nic - a NIC, or its host rings, as a member of a switch
 * @m: the membership
 * @priv: the switch's binding of the port
 * @nsrc: source rings
 * @src: the source rings
 * @work: pulls the sources in notification mode
 * @peer: the host member of a NIC member, or the NIC member of a host one
 * @host: the member is the host stack of a NIC
 * @pollers: the polling threads, @nthreads of them
 * @nthreads: 0 in notification mode
 * @poll_first: MULTI_CPU: the first ring (and CPU); SINGLE_CPU: the CPU
 * @poll_multi: MULTI_CPU mode
 * @vport: the port bound is a VALE port (of another switch)
 * @push: @vport: syncs the destinations the forwarders filled
 */
struct vale_nic {
	struct vale_member m;
	struct netmap_priv *priv;
	u32 nsrc;
	struct vale_nic_src *src;
	struct work_struct work;
	struct vale_nic *peer;
	bool host;
	struct vale_poller *pollers;
	u32 nthreads;
	u32 poll_first;
	bool poll_multi;
	bool vport;
	struct work_struct push;
};

static struct vale_nic *vale_nic_of(struct vale_member *m)
{
	return container_of(m, struct vale_nic, m);
}

bool vale_member_is_nic(const struct vale_member *m)
{
	return m->nic;
}

/*
 * May the caller detach or poll @m? A NIC, its host member and a persistent
 * port need CAP_NET_ADMIN over their netdev's namespace (perm.c).
 * netmap_lock held.
 */
int vale_member_admin(struct vale_member *m)
{
	if (m->nic)
		return netmap_port_admin(vale_nic_of(m)->priv->port);
	return netmap_port_admin(&container_of(m, struct vale_port, m)->up);
}

/* Whether polling threads pull the member's rings. netmap_lock held. */
bool vale_nic_is_polling(struct vale_member *m)
{
	return m->nic && vale_nic_of(m)->nthreads;
}

/* ---------------------------------------------------------------------- */
/* Destinations: called by the forwarders, d->lock held                    */
/* ---------------------------------------------------------------------- */

/*
 * Free slots of a NIC tx ring; syncs it when fewer than @want (for a VALE
 * port, asks its work item to).
 */
u32 vale_nic_room(struct vale_member *m, struct vale_dst *d, u32 want)
{
	struct netmap_kring *k = d->kring;
	u32 room = nm_dist(d->fill, d->tail, k->num_slots), hwcur, hwtail;

	if (room < want && vale_nic_of(m)->vport) {
		queue_work(system_unbound_wq, &vale_nic_of(m)->push);
	} else if (room < want) {
		netmap_kring_sync_ptrs(k, d->fill, d->fill, &hwcur, &hwtail);
		d->tail = hwtail;
		room = nm_dist(d->fill, d->tail, k->num_slots);
	}
	return room;
}

/* Hand the slots up to @head to the NIC (a VALE port: soon). */
void vale_nic_push(struct vale_member *m, struct vale_dst *d, u32 head)
{
	u32 hwcur, hwtail;

	if (vale_nic_of(m)->vport) {
		d->fill = head;
		queue_work(system_unbound_wq, &vale_nic_of(m)->push);
		return;
	}
	if (!netmap_kring_sync_ptrs(d->kring, head, head, &hwcur, &hwtail))
		d->fill = head;
	d->tail = hwtail;
}

/*
 * The tx syncs of a VALE port, out of the forwarders' locks. Only this
 * work item syncs the rings (the switch binds them exclusively), and the
 * forwarders fill slots from d->fill to d->tail only, which the sync of
 * the slots before d->fill does not touch.
 */
static void vale_nic_push_work(struct work_struct *work)
{
	struct vale_nic *nic = container_of(work, struct vale_nic, push);
	u32 i, head, hwcur, hwtail;
	bool live;

	for (i = 0; i < nic->m.ndst; i++) {
		struct vale_dst *d = &nic->m.dst[i];

		spin_lock_bh(&d->lock);
		live = d->live;
		head = d->fill;
		spin_unlock_bh(&d->lock);
		if (!live ||
		    netmap_kring_sync_ptrs(d->kring, head, head, &hwcur, &hwtail))
			continue;
		spin_lock_bh(&d->lock);
		d->tail = hwtail;
		spin_unlock_bh(&d->lock);
	}
}

/* ---------------------------------------------------------------------- */
/* Sources                                                                 */
/* ---------------------------------------------------------------------- */

/* Forward what arrived on @s; returns whether anything was. */
static bool vale_nic_pull(struct vale_nic_src *s)
{
	struct netmap_kring *k = s->kring;
	u32 hwcur, hwtail, avail, done;

	/* Give back what was forwarded, and see what arrived. */
	if (netmap_kring_sync_ptrs(k, s->head, s->head, &hwcur, &hwtail))
		return false;
	avail = nm_dist(s->head, hwtail, k->num_slots);
	if (!avail)
		return false;
	rcu_read_lock();
	done = vale_forward(&s->nic->m, k, s->head, avail, s->batch);
	rcu_read_unlock();
	s->head = (s->head + done) % k->num_slots;
	return done;
}

static void vale_nic_work(struct work_struct *work)
{
	struct vale_nic *nic = container_of(work, struct vale_nic, work);
	bool again = false;
	u32 i, b;

	for (i = 0; i < nic->nsrc; i++) {
		for (b = 0; b < VALE_NIC_BUDGET; b++)
			if (!vale_nic_pull(&nic->src[i]))
				break;
		again |= b == VALE_NIC_BUDGET;
	}
	if (again)
		queue_work(system_unbound_wq, &nic->work);
}

/* A source ring's owner woke its pollers: pull in process context. */
static int vale_nic_wake(struct wait_queue_entry *wait, unsigned int mode,
			 int sync, void *key)
{
	struct vale_nic_src *s = container_of(wait, struct vale_nic_src, wait);

	queue_work(system_unbound_wq, &s->nic->work);
	return 0;
}

static void vale_nic_notify_start(struct vale_nic *nic)
{
	u32 i;

	for (i = 0; i < nic->nsrc; i++) {
		struct vale_nic_src *s = &nic->src[i];

		init_waitqueue_func_entry(&s->wait, vale_nic_wake);
		add_wait_queue(&s->kring->wq, &s->wait);
		s->waiting = true;
	}
	queue_work(system_unbound_wq, &nic->work);
}

static void vale_nic_notify_stop(struct vale_nic *nic)
{
	u32 i;

	for (i = 0; i < nic->nsrc; i++) {
		struct vale_nic_src *s = &nic->src[i];

		if (s->waiting)
			remove_wait_queue(&s->kring->wq, &s->wait);
		s->waiting = false;
	}
	cancel_work_sync(&nic->work);
}

/* ---------------------------------------------------------------------- */
/* Polling threads                                                         */
/* ---------------------------------------------------------------------- */

/* A ring of a polling thread had news: wake the thread if it sleeps. */
static int vale_poll_wake(struct wait_queue_entry *wait, unsigned int mode,
			  int sync, void *key)
{
	struct vale_nic_src *s = container_of(wait, struct vale_nic_src, wait);
	struct vale_poller *p = s->poller;

	WRITE_ONCE(p->kick, true);
	wake_up_process(p->task);
	return 0;
}

static int vale_nic_poll_thread(void *data)
{
	struct vale_poller *p = data;
	struct vale_nic *nic = p->nic;
	u64 last = local_clock();
	u32 i;

	while (!kthread_should_stop()) {
		bool busy = false;

		/* A kick from now on means news the pulls may have missed. */
		WRITE_ONCE(p->kick, false);
		smp_mb();
		for (i = p->first; i < p->first + p->count; i++)
			busy |= vale_nic_pull(&nic->src[i]);
		if (busy)
			last = local_clock();
		if (local_clock() - last < VALE_POLL_SPIN_US * NSEC_PER_USEC) {
			cond_resched();
			continue;
		}
		set_current_state(TASK_INTERRUPTIBLE);
		if (!READ_ONCE(p->kick) && !kthread_should_stop())
			schedule_timeout(VALE_POLL_IDLE);
		__set_current_state(TASK_RUNNING);
	}
	return 0;
}

static void vale_nic_poll_stop(struct vale_nic *nic)
{
	u32 i;

	/* No wakeup runs once the entries are off their queues. */
	for (i = 0; i < nic->nsrc; i++) {
		struct vale_nic_src *s = &nic->src[i];

		if (s->waiting)
			remove_wait_queue(&s->kring->wq, &s->wait);
		s->waiting = false;
		s->poller = NULL;
	}
	for (i = 0; i < nic->nthreads; i++)
		kthread_stop(nic->pollers[i].task);
	kfree(nic->pollers);
	nic->pollers = NULL;
	nic->nthreads = 0;
}

static int vale_nic_poll_start(struct vale_nic *nic, bool multi, u32 first,
			       u32 num)
{
	u32 n = multi ? num : 1, i, k;

	nic->pollers = kcalloc(n, sizeof(*nic->pollers), GFP_KERNEL);
	if (!nic->pollers)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct vale_poller *p = &nic->pollers[i];
		struct task_struct *t;

		p->nic = nic;
		p->first = multi ? first + i : 0;
		p->count = multi ? 1 : nic->nsrc;
		t = kthread_create_on_cpu(vale_nic_poll_thread, p, first + i,
					  "vale_poll/%u");
		if (IS_ERR(t)) {
			vale_nic_poll_stop(nic);
			return PTR_ERR(t);
		}
		p->task = t;
		nic->nthreads++;
		for (k = p->first; k < p->first + p->count; k++) {
			struct vale_nic_src *s = &nic->src[k];

			s->poller = p;
			init_waitqueue_func_entry(&s->wait, vale_poll_wake);
			add_wait_queue(&s->kring->wq, &s->wait);
			s->waiting = true;
		}
		wake_up_process(t);
	}
	nic->poll_multi = multi;
	nic->poll_first = first;
	return 0;
}

/**
 * vale_nic_polling() - VALE_POLLING_ENABLE / DISABLE on a member
 * @m: the member
 * @on: enable
 * @req: enable: the mode and CPUs
 *
 * netmap_lock held.
 *
 * Return: 0; -EINVAL when @m is not a NIC, or for a bad mode or CPU
 * range; -EBUSY when polling is already on (enable) or off (disable).
 */
int vale_nic_polling(struct vale_member *m, bool on,
		     const struct nmreq_vale_polling *req)
{
	struct vale_nic *nic = vale_nic_of(m);
	u32 first, num, i;
	bool multi;
	int err;

	if (!m->nic || nic->host)
		return -EINVAL;
	if (!on) {
		if (!nic->nthreads)
			return -EBUSY;
		vale_nic_poll_stop(nic);
		vale_nic_notify_start(nic);
		return 0;
	}
	if (nic->nthreads)
		return -EBUSY;
	first = req->nr_first_cpu_id;
	num = req->nr_num_polling_cpus;
	switch (req->nr_mode) {
	case NETMAP_POLLING_MODE_SINGLE_CPU:
		multi = false;
		if (num > 1)
			return -EINVAL;
		num = 1;
		break;
	case NETMAP_POLLING_MODE_MULTI_CPU:
		multi = true;
		if (!num || num > nic->nsrc || first > nic->nsrc - num)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	for (i = first; i < first + num; i++)
		if (i >= nr_cpu_ids || !cpu_online(i))
			return -EINVAL;
	vale_nic_notify_stop(nic);
	err = vale_nic_poll_start(nic, multi, first, num);
	if (err)
		vale_nic_notify_start(nic);
	return err;
}

/* ---------------------------------------------------------------------- */
/* Attach and detach                                                       */
/* ---------------------------------------------------------------------- */

/* Bind @ifname for the switch, exclusively, in @mode. */
static struct netmap_priv *vale_nic_bind(const char *ifname, u32 mode)
{
	struct nmreq_register reg = {
		.nr_mode = mode,
		.nr_flags = NR_EXCLUSIVE,
	};
	struct netmap_priv *priv;
	int err;

	priv = kzalloc(sizeof(*priv), GFP_KERNEL);
	if (!priv)
		return ERR_PTR(-ENOMEM);
	mutex_init(&priv->lock);
	mutex_lock(&priv->lock);
	err = netmap_register(priv, ifname, &reg);
	if (!err)
		netmap_register_finish(priv, 0);
	mutex_unlock(&priv->lock);
	if (err) {
		mutex_destroy(&priv->lock);
		kfree(priv);
		return ERR_PTR(err);
	}
	return priv;
}

static void vale_nic_unbind(struct netmap_priv *priv)
{
	netmap_unregister(priv);
	mutex_destroy(&priv->lock);
	kfree(priv);
}

static void vale_nic_free(struct vale_nic *nic)
{
	u32 i;

	if (!nic)
		return;
	cancel_work_sync(&nic->push);	/* its destinations are closed */
	if (nic->priv)
		vale_nic_unbind(nic->priv);
	for (i = 0; nic->src && i < nic->nsrc; i++)
		vale_batch_free(nic->src[i].batch);
	kfree(nic->src);
	kfree(nic->m.dst);
	kfree(nic);
}

/* A member for the rings @ifname binds in @mode. */
static struct vale_nic *vale_nic_new(const char *ifname, u32 mode)
{
	struct netmap_port *port;
	struct netmap_priv *priv;
	struct vale_nic *nic;
	u32 i, ntx, nrx;

	priv = vale_nic_bind(ifname, mode);
	if (IS_ERR(priv))
		return ERR_CAST(priv);
	nic = kzalloc(sizeof(*nic), GFP_KERNEL);
	if (!nic) {
		vale_nic_unbind(priv);
		return ERR_PTR(-ENOMEM);
	}
	nic->priv = priv;
	port = priv->port;
	INIT_WORK(&nic->work, vale_nic_work);
	INIT_WORK(&nic->push, vale_nic_push_work);
	nic->vport = vale_is_port(port);
	if (nic->vport)		/* its frames are the port's */
		nic->m.hdr_len = port->ops->hdr_get(port);
	nic->m.nic = true;
	ntx = priv->last[NM_TX] - priv->first[NM_TX];
	nrx = priv->last[NM_RX] - priv->first[NM_RX];
	nic->m.dst = kcalloc(ntx, sizeof(*nic->m.dst), GFP_KERNEL);
	nic->src = kcalloc(nrx, sizeof(*nic->src), GFP_KERNEL);
	if (!ntx || !nrx || !nic->m.dst || !nic->src) {
		vale_nic_free(nic);
		return ERR_PTR(!ntx || !nrx ? -EINVAL : -ENOMEM);
	}
	nic->m.ndst = ntx;
	for (i = 0; i < ntx; i++) {
		struct netmap_kring *k = &port->krings[NM_TX][priv->first[NM_TX] + i];

		vale_dst_init(&nic->m.dst[i], k);
		vale_dst_set_live(&nic->m.dst[i], true, k->rhead);
		nic->m.dst[i].tail = k->rtail;
	}
	nic->nsrc = nrx;
	for (i = 0; i < nrx; i++) {
		struct vale_nic_src *s = &nic->src[i];

		s->nic = nic;
		s->kring = &port->krings[NM_RX][priv->first[NM_RX] + i];
		s->head = s->kring->rhead;
		s->batch = vale_batch_alloc();
		if (!s->batch) {
			vale_nic_free(nic);
			return ERR_PTR(-ENOMEM);
		}
	}
	return nic;
}

/* Stop the forwarding of a member and close its destinations. */
static void vale_nic_quiesce(struct vale_nic *nic)
{
	u32 i;

	if (nic->nthreads)
		vale_nic_poll_stop(nic);
	else
		vale_nic_notify_stop(nic);
	for (i = 0; i < nic->m.ndst; i++)
		vale_dst_set_live(&nic->m.dst[i], false, 0);
}

/**
 * vale_nic_attach() - VALE_ATTACH of a NIC port
 * @swname: "valeS"
 * @ifname: the NIC
 * @host: also attach its host stack, as "valeS:IF^"
 * @idx: the NIC member's port index
 *
 * Called without netmap_lock.
 *
 * Return: 0, -ENXIO (no such NIC), -EBUSY (bound, or attached already),
 * -ENOMEM or -ENOSPC (limits), or the binding's error.
 */
int vale_nic_attach(const char *swname, const char *ifname, bool host,
		    u32 *idx)
{
	struct vale_nic *nic, *hnic = NULL;
	char hname[IFNAMSIZ + 1];
	int err;

	nic = vale_nic_new(ifname, NR_REG_ALL_NIC);
	if (IS_ERR(nic))
		return PTR_ERR(nic);
	if (host) {
		hnic = vale_nic_new(ifname, NR_REG_SW);
		if (IS_ERR(hnic)) {
			vale_nic_free(nic);
			return PTR_ERR(hnic);
		}
		nic->peer = hnic;
		hnic->peer = nic;
		hnic->host = true;
	}
	mutex_lock(&netmap_lock);
	err = vale_member_add(swname, &nic->m, ifname);
	if (!err && hnic) {
		scnprintf(hname, sizeof(hname), "%s^", ifname);
		err = vale_member_add(swname, &hnic->m, hname);
		if (err)
			vale_member_remove(&nic->m);
	}
	if (!err) {
		vale_nic_notify_start(nic);
		if (hnic)
			vale_nic_notify_start(hnic);
		*idx = nic->m.idx;
	}
	mutex_unlock(&netmap_lock);
	if (err) {
		vale_nic_free(hnic);
		vale_nic_free(nic);
	}
	return err;
}

/**
 * vale_nic_detach() - take a NIC member (and its host member) out
 * @m: a NIC member
 *
 * Called with netmap_lock held, which it drops and takes again to unbind
 * the NIC: the caller must not rely on anything it looked up before.
 *
 * Return: 0, or -EINVAL for the host member (detach its NIC instead).
 */
int vale_nic_detach(struct vale_member *m)
{
	struct vale_nic *nic = vale_nic_of(m), *peer = nic->peer;

	lockdep_assert_held(&netmap_lock);
	if (nic->host)
		return -EINVAL;
	vale_nic_quiesce(nic);
	vale_member_remove(&nic->m);
	if (peer) {
		vale_nic_quiesce(peer);
		vale_member_remove(&peer->m);
	}
	mutex_unlock(&netmap_lock);
	synchronize_rcu();	/* forwarders are done with the members */
	vale_nic_free(peer);
	vale_nic_free(nic);
	mutex_lock(&netmap_lock);
	return 0;
}

/**
 * netmap_vale_owns() - whether a switch binds @port (it is kernel-owned)
 * @port: any port
 *
 * netmap_lock held.
 *
 * Return: true when @port is the NIC (or host stack) of a switch member.
 */
bool netmap_vale_owns(struct netmap_port *port)
{
	struct vale_switch *sw;
	struct vale_member *m;
	unsigned int i;
	u32 j;

	lockdep_assert_held(&netmap_lock);
	for (i = 0; i < VALE_SWITCHES_MAX; i++) {
		sw = vale_switch_at(i);
		for (j = 0; sw && j < sw->hi; j++) {
			m = rcu_dereference_protected(sw->members[j],
						      lockdep_is_held(&netmap_lock));
			if (m && m->nic && vale_nic_of(m)->priv->bound == port)
				return true;
		}
	}
	return false;
}
