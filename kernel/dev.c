// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The /dev/netmap character device: open, release, ioctl, mmap and poll.
 *
 * Every open file descriptor owns one struct netmap_priv, created in open
 * and destroyed in release. Release unbinds whatever the descriptor bound;
 * a mapping keeps the file (and so the binding) alive until it goes.
 *
 * Locking: priv->lock (a mutex) serialises the control requests of one
 * descriptor (NIOCCTRL, NIOCGINFO, NIOCREGIF) and is the outermost netmap
 * lock. The data path (NIOCTXSYNC, NIOCRXSYNC, poll) and mmap take no
 * mutex: they read the binding through netmap_priv_port(), which is
 * published once and stays until release, and the syncs serialise on
 * each ring's lock. mmap runs under mmap_lock and must not take
 * priv->lock, since the control requests fault user pages (mmap_lock)
 * while holding it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/errno.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/slab.h>

#include "compat.h"
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

	netmap_unregister(priv);
	mutex_destroy(&priv->lock);
	kfree(priv);
	atomic_dec(&netmap_priv_count);
	return 0;
}

static long netmap_ioctl(struct file *file, unsigned int cmd,
			 unsigned long arg)
{
	struct netmap_priv *priv = file->private_data;
	void __user *uarg = (void __user *)arg;
	long ret;

	switch (cmd) {
	case NIOCTXSYNC:
		return netmap_priv_sync(priv, NM_TX);
	case NIOCRXSYNC:
		return netmap_priv_sync(priv, NM_RX);
	case NIOCCTRL:
		mutex_lock(&priv->lock);
		ret = netmap_ioctl_ctrl(priv, uarg);
		mutex_unlock(&priv->lock);
		return ret;
	case NIOCGINFO:
	case NIOCREGIF:
		mutex_lock(&priv->lock);
		ret = netmap_ioctl_legacy(priv, cmd, uarg);
		mutex_unlock(&priv->lock);
		return ret;
	default:
		/* netmap answers ENXIO, not ENOTTY, to a request it lacks. */
		return -ENXIO;
	}
}

/* The whole region or a part of it, shared, once the descriptor is bound. */
static int netmap_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct netmap_priv *priv = file->private_data;

	if (!netmap_priv_port(priv))
		return -EINVAL;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	return netmap_mem_mmap(priv->mem, vma);
}

static __poll_t netmap_poll(struct file *file, poll_table *wait)
{
	return netmap_priv_poll(file->private_data, file, wait);
}

/* Every close(): one by the process running a kloop ends it (kloop.c). */
static int netmap_flush(struct file *file, fl_owner_t id)
{
	netmap_kloop_flush(file->private_data, id);
	return 0;
}

static const struct file_operations netmap_fops = {
	.owner = THIS_MODULE,
	.open = netmap_open,
	.release = netmap_release,
	.unlocked_ioctl = netmap_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = netmap_mmap,
	.poll = netmap_poll,
	.flush = netmap_flush,
};

/*
 * The node: a character device of its own class, so that devtmpfs gives
 * it the owner, group and mode of the module parameters (perm.c) when it
 * creates it at registration; a misc device could only set the mode.
 */
static dev_t netmap_devt;
static struct cdev netmap_cdev;
static struct device *netmap_device;
static umode_t netmap_node_mode;
static kuid_t netmap_node_uid;
static kgid_t netmap_node_gid;

static char *netmap_devnode(nm_devnode_device *dev, umode_t *mode,
			    kuid_t *uid, kgid_t *gid)
{
	if (mode)
		*mode = netmap_node_mode;
	if (uid)
		*uid = netmap_node_uid;
	if (gid)
		*gid = netmap_node_gid;
	return NULL;		/* the device's name: /dev/netmap */
}

static const struct device_type netmap_dev_type = {
	.name = "netmap",
	.devnode = netmap_devnode,
};

static struct class netmap_class = {
	.name = "netmap",
};

static void netmap_device_release(struct device *dev)
{
	kfree(dev);
}

int netmap_dev_init(void)
{
	struct device *dev;
	int err;

	err = netmap_dev_node_perm(&netmap_node_mode, &netmap_node_uid,
				   &netmap_node_gid);
	if (err)
		return err;
	err = alloc_chrdev_region(&netmap_devt, 0, 1, "netmap");
	if (err)
		return err;
	err = class_register(&netmap_class);
	if (err)
		goto fail_region;
	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev) {
		err = -ENOMEM;
		goto fail_class;
	}
	device_initialize(dev);
	dev->devt = netmap_devt;
	dev->class = &netmap_class;
	dev->type = &netmap_dev_type;
	dev->release = netmap_device_release;
	cdev_init(&netmap_cdev, &netmap_fops);
	netmap_cdev.owner = THIS_MODULE;
	err = dev_set_name(dev, "netmap");
	if (!err)
		err = cdev_device_add(&netmap_cdev, dev);
	if (err) {
		put_device(dev);
		goto fail_class;
	}
	netmap_device = dev;
	return 0;
fail_class:
	class_unregister(&netmap_class);
fail_region:
	unregister_chrdev_region(netmap_devt, 1);
	return err;
}

void netmap_dev_exit(void)
{
	cdev_device_del(&netmap_cdev, netmap_device);
	put_device(netmap_device);
	class_unregister(&netmap_class);
	unregister_chrdev_region(netmap_devt, 1);
}
