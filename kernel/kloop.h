/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * A running sync kloop, shared by kloop.c (the loop and its requests)
 * and kloop_wake.c (what wakes it: eventfds and ring wait queues).
 */
#ifndef NETMAP_KLOOP_H
#define NETMAP_KLOOP_H

#include <linux/atomic.h>
#include <linux/eventfd.h>
#include <linux/fs.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#include <linux/wait.h>

#include "csb.h"

/**
 * struct nm_kloop_ring - what a kloop keeps for one ring
 * @kl: the loop
 * @kring: the ring
 * @atok: its CSB entries
 * @ktoa: ditto
 * @lock: one exchange (atok read, sync, ktoa write) at a time
 * @pub_hwcur: hwcur last published (@lock)
 * @pub_hwtail: hwtail last published (@lock)
 * @seen_head: atok.head at the last exchange
 * @bad_head: the last bad head reported (@lock)
 * @bad_cur: the last bad cur reported (@lock)
 * @bad: the ring is in error since the report (@lock)
 * @direct: sync in the ioeventfd wake-up
 * @irq_pending: a wake-up moved hwtail; the loop checks appl_need_kick
 * @io_file: the ioeventfd, or NULL
 * @io_ctx: its eventfd context
 * @irq_ctx: the irqfd, or NULL
 * @io_wqh: the wait queue @io_wait sits on, or NULL
 * @io_wait: our entry on the ioeventfd's wait queue
 * @io_pt: the poll table that adds @io_wait
 * @ring_wait: our entry on @kring's wait queue
 */
struct nm_kloop_ring {
	struct netmap_kloop *kl;
	struct netmap_kring *kring;
	struct nm_csb_atok *atok;
	struct nm_csb_ktoa *ktoa;
	spinlock_t lock;
	u32 pub_hwcur;
	u32 pub_hwtail;
	u32 seen_head;
	u32 bad_head;
	u32 bad_cur;
	bool bad;
	bool direct;
	atomic_t irq_pending;
	struct file *io_file;
	struct eventfd_ctx *io_ctx;
	struct eventfd_ctx *irq_ctx;
	wait_queue_head_t *io_wqh;
	wait_queue_entry_t io_wait;
	poll_table io_pt;
	wait_queue_entry_t ring_wait;
};

/**
 * struct netmap_kloop - a running kloop
 * @node: entry in nm_kloops
 * @port: the port served (bound by the descriptor)
 * @task: the thread running the loop
 * @mm: its mm, for STOP by name; valid while the loop runs
 * @files: its file table, for netmap_kloop_flush()
 * @period: the longest sleep; 0 for none
 * @stop: STOP or close() asked the loop to return
 * @pending: a wake-up arrived since the loop's last pass started
 * @nrings: entries in @rings
 * @rings: one per bound ring, in CSB order
 */
struct netmap_kloop {
	struct list_head node;
	struct netmap_port *port;
	struct task_struct *task;
	struct mm_struct *mm;
	fl_owner_t files;
	ktime_t period;
	bool stop;
	atomic_t pending;
	u32 nrings;
	struct nm_kloop_ring rings[];
};

/* kloop.c */
bool nm_kloop_ring_sync(struct nm_kloop_ring *kr, bool *tail_moved);

/* kloop_wake.c */
void nm_kloop_wake(struct netmap_kloop *kl);
int nm_kloop_eventfds(struct netmap_kloop *kl, struct nmreq_option *opt);
void nm_kloop_eventfds_put(struct netmap_kloop *kl);
void nm_kloop_listen(struct netmap_kloop *kl);
void nm_kloop_unlisten(struct netmap_kloop *kl);

#endif /* NETMAP_KLOOP_H */
