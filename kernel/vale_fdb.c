// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The learning table of a VALE switch: which port each source MAC address
 * was last seen on.
 *
 * A direct-mapped hash table of 2^VALE_FDB_BITS entries; a newer address
 * takes the place of an older one with the same hash. An entry is valid
 * for vale_age seconds after the last frame its address sent.
 *
 * The forwarders read and write entries without a lock, each field with
 * one access: an entry is a hint, and the worst a race does is flood a
 * frame whose destination was known. The time is written before the key,
 * so a reader that sees a new key sees a recent time. Forgetting a port
 * (when it leaves the switch, under netmap_lock) races only with
 * forwarders of other ports, which never write that port's index.
 */
#include <linux/hash.h>
#include <linux/jiffies.h>

#include "vale.h"

static struct vale_fdb_entry *vale_fdb_slot(struct vale_switch *sw, u64 mac)
{
	return &sw->fdb[hash_64(mac, VALE_FDB_BITS)];
}

/**
 * vale_fdb_learn() - @mac was seen on port @idx at @now (jiffies)
 * @sw: the switch
 * @mac: a unicast source address, as ether_addr_to_u64() gives it
 * @idx: the port index
 * @now: jiffies
 */
void vale_fdb_learn(struct vale_switch *sw, u64 mac, u16 idx,
		    unsigned long now)
{
	struct vale_fdb_entry *e = vale_fdb_slot(sw, mac);
	u64 key = mac << 16 | (idx + 1);

	if (READ_ONCE(e->seen) != now)
		WRITE_ONCE(e->seen, now);
	if (READ_ONCE(e->key) != key) {
		smp_wmb();	/* the time before the key */
		WRITE_ONCE(e->key, key);
	}
}

/**
 * vale_fdb_lookup() - the port @mac was learned on
 * @sw: the switch
 * @mac: a unicast address
 * @now: jiffies
 * @age: how long an entry lasts, in jiffies
 *
 * Return: the port index, or -1 when unknown or expired.
 */
int vale_fdb_lookup(struct vale_switch *sw, u64 mac, unsigned long now,
		    unsigned long age)
{
	struct vale_fdb_entry *e = vale_fdb_slot(sw, mac);
	u64 key = READ_ONCE(e->key);

	if (!key || key >> 16 != mac)
		return -1;
	smp_rmb();	/* pairs with vale_fdb_learn() */
	if (time_after(now, READ_ONCE(e->seen) + age))
		return -1;
	return (int)(key & 0xffff) - 1;
}

/* Forget every address learned on port @idx. netmap_lock held. */
void vale_fdb_forget(struct vale_switch *sw, u16 idx)
{
	u32 i;

	for (i = 0; i < ARRAY_SIZE(sw->fdb); i++)
		if ((READ_ONCE(sw->fdb[i].key) & 0xffff) == idx + 1)
			WRITE_ONCE(sw->fdb[i].key, 0);
}
