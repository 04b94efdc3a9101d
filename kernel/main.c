// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * netmap.ko: module load and unload.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/module.h>

#include "netmap_kern.h"
#include "ptnet_version.h"

static int __init netmap_init(void)
{
	int err;

	err = netmap_poll_init();
	if (err)
		return err;
	err = netmap_mem_init();
	if (err)
		return err;
	err = netmap_generic_init();
	if (err) {
		netmap_mem_exit();
		return err;
	}
	err = netmap_dev_init();
	if (err) {
		pr_err("cannot register /dev/netmap: %d\n", err);
		netmap_generic_exit();
		netmap_mem_exit();
		return err;
	}
	pr_info("loaded\n");
	return 0;
}

static void __exit netmap_exit(void)
{
	netmap_dev_exit();
	netmap_vale_exit();
	netmap_generic_exit();
	netmap_port_exit();
	netmap_mem_exit();
	pr_info("unloaded\n");
}

module_init(netmap_init);
module_exit(netmap_exit);

MODULE_DESCRIPTION("netmap-compatible fast packet I/O");
MODULE_LICENSE("Dual BSD/GPL");
MODULE_VERSION(PTNET_VERSION);
