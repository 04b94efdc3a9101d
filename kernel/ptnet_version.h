/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The ptnet release these modules belong to (the Python package's version,
 * pyproject.toml; a unit test keeps the two equal). modinfo and
 * /sys/module/NAME/version show it, so `ptnet host status` can compare the
 * loaded module with the one DKMS built.
 */
#ifndef PTNET_PTNET_VERSION_H
#define PTNET_PTNET_VERSION_H

#define PTNET_VERSION "0.1.0"

#endif
