"""`--baseline REF`: netmap.ko built from another revision of this checkout, for a bench to load
in the same boot as ours and compare scenario by scenario.

    build/baseline/<commit>/kernel/                    kernel/ of that commit (git archive)
    build/modules/<release>/baseline-<commit12>/       its kbuild, as `ptnet build modules` does
"""

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

from ptnet import paths
from ptnet.errors import PtnetError, UsageError
from ptnet.lab.kernel import Kernel


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", "-C", str(paths.source_root()), *args], capture_output=True, check=False
    )


def resolve(ref: str) -> str:
    """The commit `ref` names in this checkout; UsageError when it names none."""
    if not ref or ref.startswith("-"):
        raise UsageError(f"--baseline {ref!r}: not a git ref")
    got = _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if got.returncode != 0:
        raise UsageError(f"--baseline {ref}: no such commit in {paths.source_root()}")
    return got.stdout.decode().strip()


def source(ref: str, commit: str) -> Path:
    """kernel/ of `commit`, extracted into the cache once; UsageError without a kernel/Kbuild."""
    tree = paths.builds_dir() / "baseline" / commit
    if (tree / "kernel" / "Kbuild").is_file():
        return tree / "kernel"
    if _git("cat-file", "-e", f"{commit}:kernel/Kbuild").returncode != 0:
        raise UsageError(f"--baseline {ref}: commit {commit[:12]} has no kernel/Kbuild to build")
    archive = _git("archive", "--format=tar", commit, "kernel")
    if archive.returncode != 0:
        raise PtnetError(f"git archive {commit[:12]} kernel failed: {archive.stderr.decode()}")
    # Extracted beside, then renamed: an interrupted extraction is never taken for a tree.
    part = tree.with_name(commit + ".part")
    shutil.rmtree(part, ignore_errors=True)
    part.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(part, filter="data")
    shutil.rmtree(tree, ignore_errors=True)
    part.rename(tree)
    return tree / "kernel"


def build(kernel: Kernel, ref: str, commit: str) -> Path:
    """netmap.ko of `commit` for `kernel`; UsageError (one line) when it does not build."""
    from ptnet.build import kbuild

    src = source(ref, commit)
    try:
        kos = kbuild.build_other_dir(kernel, src, f"baseline-{commit[:12]}")
    except UsageError:
        raise
    except PtnetError as exc:
        raise UsageError(
            f"--baseline {ref}: netmap.ko of {commit[:12]} does not build: {exc}"
        ) from exc
    for ko in kos:
        if ko.name == "netmap.ko":
            return ko
    raise UsageError(f"--baseline {ref}: commit {commit[:12]} builds no netmap.ko")
