"""Advisory file locks that serialise ptnet processes working on the same files."""

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def file_lock(lockfile: Path) -> Iterator[None]:
    """Hold an exclusive flock on `lockfile` (created if missing) for the with-block."""
    lockfile.parent.mkdir(parents=True, exist_ok=True)
    with lockfile.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
