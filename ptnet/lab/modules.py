"""Resolve the modules a lab run loads: a path to a .ko, or the name of a module we build."""

from pathlib import Path

from ptnet.errors import UsageError
from ptnet.lab.kernel import Kernel


def resolve(kernel: Kernel, name: str) -> Path:
    if name.endswith(".ko"):
        path = Path(name).resolve()
        if not path.is_file():
            raise UsageError(f"--modules {name}: no such file")
        return path
    from ptnet.build import kbuild

    return kbuild.module_path(kernel, name)
