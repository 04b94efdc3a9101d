// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Tunable module parameters with bounds. A value written out of
 * [min, max] is refused with -EINVAL and the old value stays; readers
 * take the value with READ_ONCE(), since it may change at any time.
 */
#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/moduleparam.h>
#include <linux/sysfs.h>

#include "netmap_kern.h"

static int netmap_uint_param_set(const char *val,
				 const struct kernel_param *kp)
{
	struct netmap_uint_param *p = kp->arg;
	unsigned int v;
	int err;

	err = kstrtouint(val, 0, &v);
	if (err)
		return err;
	if (v < p->min || v > p->max)
		return -EINVAL;
	WRITE_ONCE(p->val, v);
	return 0;
}

static int netmap_uint_param_get(char *buf, const struct kernel_param *kp)
{
	const struct netmap_uint_param *p = kp->arg;

	return sysfs_emit(buf, "%u\n", READ_ONCE(p->val));
}

const struct kernel_param_ops netmap_uint_param_ops = {
	.set = netmap_uint_param_set,
	.get = netmap_uint_param_get,
};
