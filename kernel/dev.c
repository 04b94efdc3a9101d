// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The /dev/netmap misc device: open, release and the ioctl dispatch.
 *
 * Every open file descriptor owns one struct netmap_priv, created in open
 * and destroyed in release. Lock order: priv->lock is taken first, before
 * any lock of the netmap core.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "netmap_kern.h"

static int netmap_open(struct inode *inode, struct file *file)
{
	struct netmap_priv *priv;
	int err;

	err = nonseekable_open(inode, file);
	if (err)
		return err;

	priv = kzalloc(sizeof(*priv), GFP_KERNEL);
	if (!priv)
		return -ENOMEM;
	mutex_init(&priv->lock);
	atomic_inc(&netmap_priv_count);
	file->private_data = priv;
	return 0;
}

static int netmap_release(struct inode *inode, struct file *file)
{
	struct netmap_priv *priv = file->private_data;

	mutex_destroy(&priv->lock);
	kfree(priv);
	atomic_dec(&netmap_priv_count);
	return 0;
}

/* Called with priv->lock held. */
static long netmap_dispatch(struct netmap_priv *priv, unsigned int cmd,
			    void __user *arg)
{
	switch (cmd) {
	default:
		/* netmap answers ENXIO, not ENOTTY, to a request it lacks. */
		return -ENXIO;
	}
}

static long netmap_ioctl(struct file *file, unsigned int cmd,
			 unsigned long arg)
{
	struct netmap_priv *priv = file->private_data;
	long ret;

	mutex_lock(&priv->lock);
	ret = netmap_dispatch(priv, cmd, (void __user *)arg);
	mutex_unlock(&priv->lock);
	return ret;
}

static const struct file_operations netmap_fops = {
	.owner = THIS_MODULE,
	.open = netmap_open,
	.release = netmap_release,
	.unlocked_ioctl = netmap_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice netmap_miscdev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "netmap",
	.fops = &netmap_fops,
	.mode = 0666,
};

int netmap_dev_init(void)
{
	return misc_register(&netmap_miscdev);
}

void netmap_dev_exit(void)
{
	misc_deregister(&netmap_miscdev);
}
