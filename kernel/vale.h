/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * VALE: the declarations shared by vale*.c.
 *
 * A switch ("valeS") has up to vale_max_ports members. A member is one of:
 *
 *   struct vale_port   a VALE port (vale.c): rings in its own private
 *                      region. Ephemeral ports ("valeS:P") live while
 *                      they have references; persistent ones (VALE_NEWIF)
 *                      until VALE_DELIF, with a netdev (vale_netdev.c).
 *   struct vale_nic    a NIC port or its host rings, bound by the switch
 *                      itself (vale_nic.c), attached with VALE_ATTACH; or
 *                      a persistent VALE port already in another switch,
 *                      bound the same way (it then links both switches).
 *
 * Forwarding (vale_fwd.c) copies each packet from the source member's ring
 * into the rings of its destinations (struct vale_dst), so that no member
 * ever sees another one's memory. The learning table is vale_fdb.c, the
 * control requests vale_ctrl.c.
 *
 * Locking, in addition to the core's (netmap_kern.h):
 *   netmap_lock      the switch table, every switch's members, the
 *                    membership of every port, the fdb's clearing
 *   RCU              the forwarders read sw->members[] and member->sw
 *                    under rcu_read_lock(); members and switches are freed
 *                    after a grace period
 *   vale_dst.lock    the deliveries into one destination ring; a BH-safe
 *                    spinlock (persistent ports' netdevs deliver from
 *                    softirq), taken inside the source ring's kring->lock
 *                    and outside the destination's (NIC tx rings)
 */
#ifndef NETMAP_VALE_H
#define NETMAP_VALE_H

#include <linux/rcupdate.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>

#include "netmap_kern.h"

#define VALE_SWITCHES_MAX	64	/* upper bound of vale_max_switches */
#define VALE_PORTS_MAX		252	/* upper bound of vale_max_ports */
#define VALE_NOPORT		255	/* VALE_LIST: the switch has no such port */
#define VALE_NAME_MAX		15	/* a switch name, or a port part */
#define VALE_RINGS_MAX		16	/* rings per direction of a VALE port */
#define VALE_SLOTS_MAX		4096	/* slots per ring of a VALE port */
#define VALE_EXTRA_BUFS_MAX	(128 * VALE_SLOTS_MAX)	/* sized in a new region */
#define VALE_BATCH		512	/* packets per forwarding batch */
#define VALE_FDB_BITS		10	/* 1024 learning-table entries */
#define VALE_HDR_MAX		12	/* the longest virtio-net header */

struct net_device;
struct vale_batch;
struct vale_switch;

/**
 * struct vale_dst - a ring the switch copies packets into
 * @lock: serialises the deliveries into the ring
 * @live: the ring has memory and takes packets (@lock)
 * @kring: the ring (an rx ring of a VALE port, a tx ring of a NIC)
 * @fill: next slot to fill (@lock); for rx rings, published with release
 *	for the ring's rxsync
 * @tail: tx rings of a NIC: the tail the last sync gave (@lock)
 * @drops: packets dropped because the ring was full or bad (@lock)
 */
struct vale_dst {
	spinlock_t lock;
	bool live;
	struct netmap_kring *kring;
	u32 fill;
	u32 tail;
	u64 drops;
} ____cacheline_aligned_in_smp;

/**
 * struct vale_member - what a switch knows of one of its ports
 * @sw: the switch, NULL when not in one (RCU; written under netmap_lock
 *	while the member has no traffic of its own)
 * @idx: the port index in the switch
 * @nic: the destinations are tx rings of a NIC bound by the switch
 * @hdr_len: virtio-net header length of its frames: 0, 10 or 12
 * @ndst: destination rings
 * @dst: the destination rings
 * @name: the name VALE_LIST reports, "valeS:P"
 */
struct vale_member {
	struct vale_switch __rcu *sw;
	u16 idx;
	bool nic;
	u32 hdr_len;
	u32 ndst;
	struct vale_dst *dst;
	char name[NETMAP_REQ_IFNAMSIZ];
};

/**
 * struct vale_fdb_entry - one entry of the learning table
 * @key: MAC << 16 | (port index + 1); 0 when empty
 * @seen: jiffies of the last frame the MAC sent
 *
 * Written by the forwarders without a lock: an entry is only a hint, and a
 * torn or stale one at worst floods a frame.
 */
struct vale_fdb_entry {
	u64 key;
	unsigned long seen;
};

/**
 * struct vale_switch - a VALE switch
 * @name: "valeS"
 * @idx: its index in the switch table (VALE_LIST's nr_bridge_idx)
 * @nmembers: members (netmap_lock)
 * @hi: one past the highest member index in use (netmap_lock; read by
 *	the forwarders with READ_ONCE())
 * @members: the members by port index (RCU)
 * @rcu: deferred free
 * @fdb: the learning table
 */
struct vale_switch {
	char name[NETMAP_REQ_IFNAMSIZ];
	u16 idx;
	u16 nmembers;
	u16 hi;
	struct vale_member __rcu *members[VALE_PORTS_MAX];
	struct rcu_head rcu;
	struct vale_fdb_entry fdb[1 << VALE_FDB_BITS];
};

/**
 * struct vale_port - a VALE port
 * @up: the netmap port (name "valeS:P", or the plain name of a
 *	persistent port)
 * @m: its membership
 * @batch: per tx ring, the forwarding scratch (while active)
 * @persistent: made by VALE_NEWIF; lives until VALE_DELIF
 * @autodelete: persistent, made for a pipe parent that did not exist
 *	(netmap_vale_autoif()); lives while it has references instead
 * @pnode: entry in the list of persistent ports (netmap_lock)
 * @netdev: the netdev of a persistent port
 * @rcu: deferred free
 */
struct vale_port {
	struct netmap_port up;
	struct vale_member m;
	struct vale_batch **batch;
	bool persistent;
	bool autodelete;
	struct list_head pnode;
	struct net_device *netdev;
	struct rcu_head rcu;
};

static inline struct vale_port *vale_port_of(struct netmap_port *port)
{
	return container_of(port, struct vale_port, up);
}

/* vale.c */
extern struct netmap_uint_param vale_age;
bool vale_is_port(const struct netmap_port *port);
bool vale_name_split(const char *name, char *sw, const char **port);
bool vale_port_part_ok(const char *port);
struct vale_switch *vale_switch_find(const char *swname);
struct vale_switch *vale_switch_at(unsigned int idx);
int vale_member_room(const char *swname);
int vale_member_add(const char *swname, struct vale_member *m,
		    const char *portname);
void vale_member_remove(struct vale_member *m);
struct vale_member *vale_member_find(struct vale_switch *sw,
				     const char *name);
struct vale_port *vale_port_new(const char *name, u16 mem_id,
				const struct netmap_mem_fit *want);
struct vale_port *vale_persistent_find(const char *name);
void vale_dst_init(struct vale_dst *d, struct netmap_kring *kring);
void vale_dst_set_live(struct vale_dst *d, bool live, u32 fill);

/* vale_fwd.c */
struct vale_batch *vale_batch_alloc(void);
void vale_batch_free(struct vale_batch *b);
u32 vale_forward(struct vale_member *src, struct netmap_kring *kring,
		 u32 first, u32 avail, struct vale_batch *b);
int vale_txsync(struct netmap_kring *kring);
int vale_rxsync(struct netmap_kring *kring);

/* vale_fdb.c */
void vale_fdb_learn(struct vale_switch *sw, u64 mac, u16 idx,
		    unsigned long now);
int vale_fdb_lookup(struct vale_switch *sw, u64 mac, unsigned long now,
		    unsigned long age);
void vale_fdb_forget(struct vale_switch *sw, u16 idx);

/* vale_netdev.c: the netdev of a persistent port */
bool vale_netdev_exists(const char *name);
struct net_device *vale_netdev_new(const char *name);
int vale_netdev_register(struct net_device *dev, struct vale_port *vp);
void vale_netdev_delete(struct net_device *dev);
u32 vale_netdev_rx(struct vale_port *vp, struct netmap_kring *kring,
		   u32 first, u32 avail);

/* vale_nic.c: NICs and host stacks in a switch */
u32 vale_nic_room(struct vale_member *m, struct vale_dst *d, u32 want);
void vale_nic_push(struct vale_member *m, struct vale_dst *d, u32 head);
int vale_nic_attach(const char *swname, const char *ifname, bool host,
		    u32 *idx);
int vale_nic_detach(struct vale_member *m);
bool vale_member_is_nic(const struct vale_member *m);
int vale_member_admin(struct vale_member *m);
bool vale_nic_is_polling(struct vale_member *m);
int vale_nic_polling(struct vale_member *m, bool on,
		     const struct nmreq_vale_polling *req);

#endif /* NETMAP_VALE_H */
