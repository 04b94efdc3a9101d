"""The lab playing a user's host for `ptnet host install`.

The lab sees the host's root read-only over 9p (ptnet/lab/init.sh), so nothing written here
reaches the real host. What `ptnet host install` writes (/etc, /usr/src, /var/lib/dkms,
/lib/modules/RELEASE, /opt) gets a tmpfs overlay, for the block only: the writes vanish when it
ends. With headers=True the cached headers of the lab's kernel are linked at
/lib/modules/RELEASE/build, as the linux-headers package does on a user's host.
"""

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

OVERLAID = ("/etc", "/usr/src", "/var/lib", "/lib/modules", "/opt")


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


@contextlib.contextmanager
def user_host(*, headers: bool) -> Iterator[str]:
    """Writable overlays over OVERLAID for the block; yields the kernel release."""
    from ptnet.lab import kernel

    release = os.uname().release
    scratch = Path(tempfile.mkdtemp(prefix="userhost-", dir="/run"))
    _mount("-t", "tmpfs", "userhost", str(scratch))
    mounted: list[str] = []
    try:
        for d in OVERLAID:
            up = scratch / d.strip("/").replace("/", "_")
            (up / "upper").mkdir(parents=True)
            (up / "work").mkdir()
            _mount(
                "-t",
                "overlay",
                "overlay",
                "-o",
                f"lowerdir={d},upperdir={up}/upper,workdir={up}/work",
                d,
            )
            mounted.append(d)
        build = Path("/lib/modules") / release / "build"
        build.unlink(missing_ok=True)  # the image package's link into a headers package
        if headers:
            build.symlink_to(kernel.find(release).headers_dir)
        yield release
    finally:
        for d in reversed(mounted):
            subprocess.run(["umount", d], check=False)
        subprocess.run(["umount", str(scratch)], check=False)
        scratch.rmdir()
