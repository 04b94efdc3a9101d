/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Small named helpers for the kernel API differences between the kernels
 * netmap.ko is built for (Debian's 6.1 and 6.12). Code elsewhere calls the
 * helper and never tests versions itself.
 */
#ifndef NETMAP_COMPAT_H
#define NETMAP_COMPAT_H

#include <linux/mm.h>
#include <linux/version.h>

/* vma->vm_flags became read-only in 6.3; vm_flags_set() replaced |=. */
static inline void nm_vma_set_flags(struct vm_area_struct *vma,
				    unsigned long flags)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

#endif /* NETMAP_COMPAT_H */
