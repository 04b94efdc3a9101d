"""`ptnet build modules`: real kbuild runs against every cached kernel that has its headers."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ptnet import paths
from ptnet.build import kbuild
from ptnet.errors import PtnetError, UsageError
from ptnet.lab import kernel

PTNET = Path(sys.executable).with_name("ptnet")
KERNELS = [k for k in kernel.cached() if k.headers_installed]
NO_KERNEL = pytest.param(
    None, marks=pytest.mark.skip(reason="no cached kernel with headers; run: ptnet kernel fetch")
)


def _ptnet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PTNET), *args], capture_output=True, text=True, check=False)


def _modinfo(ko: Path, field: str) -> str:
    out = subprocess.run(
        ["modinfo", "-F", field, str(ko)], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def _build_modules(k: kernel.Kernel) -> subprocess.CompletedProcess[str]:
    """`ptnet build modules` for k, which must succeed without a warning."""
    proc = _ptnet("build", "modules", "--kernel", k.release)
    assert proc.returncode == 0, proc.stderr
    assert "warning:" not in proc.stderr.lower()
    return proc


def _build_artefacts(tree: Path) -> list[Path]:
    suffixes = {".o", ".ko", ".cmd", ".mod", ".symvers", ".order"}
    return [p for p in tree.rglob("*") if p.suffix in suffixes or p.name.endswith(".mod.c")]


@pytest.mark.slow
@pytest.mark.parametrize("k", [pytest.param(k, id=k.release) for k in KERNELS] or [NO_KERNEL])
def test_netmap_builds_warning_free(k: kernel.Kernel) -> None:
    proc = _build_modules(k)
    kos = [Path(line) for line in proc.stdout.splitlines()]
    ko = kbuild.module_path(k, "netmap")
    assert kos == [ko, kbuild.module_path(k, "ptnet_guest")]  # kernel/ first, then guest/
    assert ko.is_relative_to(paths.builds_dir())
    assert _modinfo(ko, "license") == "Dual BSD/GPL"
    assert _modinfo(ko, "vermagic").split()[0] == k.release
    assert "priv_count" in _modinfo(ko, "parm")
    assert _build_artefacts(paths.source_root() / "kernel") == []


@pytest.mark.slow
@pytest.mark.parametrize("k", [pytest.param(k, id=k.release) for k in KERNELS] or [NO_KERNEL])
def test_guest_module_builds_warning_free_against_netmap(k: kernel.Kernel) -> None:
    _build_modules(k)
    ko = kbuild.module_path(k, "ptnet_guest")
    assert ko.parent == kbuild.modules_dir(k) / "guest"
    assert _modinfo(ko, "license") == "Dual BSD/GPL"
    assert _modinfo(ko, "depends") == "netmap"
    assert _modinfo(ko, "vermagic").split()[0] == k.release
    assert {"vnet_hdr", "napi_weight"} <= {
        line.split(":")[0] for line in _modinfo(ko, "parm").splitlines()
    }
    aliases = _modinfo(ko, "alias")
    assert "pci:v00001B36d0000000Dsv*sd*bc02sc00i*" in aliases  # ptnet-pci, Ethernet
    assert "pci:v00001B36d0000000Csv*sd*bc05sc00i*" in aliases  # memdev, RAM
    assert _build_artefacts(paths.source_root() / "guest") == []


@pytest.mark.slow
@pytest.mark.parametrize("k", [pytest.param(k, id=k.release) for k in KERNELS[:1]] or [NO_KERNEL])
def test_a_warning_fails_the_build_every_time(k: kernel.Kernel, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "Kbuild").write_text("obj-m := warny.o\n")
    (src / "warny.c").write_text(
        "#include <linux/module.h>\n"
        "static int __init warny_init(void) { int unused; return 0; }\n"
        "module_init(warny_init);\n"
        'MODULE_DESCRIPTION("test");\n'
        'MODULE_LICENSE("GPL");\n'
    )
    for _ in range(2):  # the second, incremental build must still see the warning
        with pytest.raises(PtnetError, match="not warning-free.*unused variable"):
            kbuild.build_dir(k, src, tmp_path / "out")


def test_bad_kernel_is_a_usage_error() -> None:
    proc = _ptnet("build", "modules", "--kernel", "9.9")
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("ptnet: error: ")
    assert proc.stdout == ""


def test_module_path_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTNET_CACHE_DIR", str(tmp_path))
    k = kernel.Kernel(release="6.1.0-99-amd64", version="6.1.999-1", series="bookworm")
    with pytest.raises(UsageError, match="run: ptnet build modules --kernel 6.1.0-99-amd64"):
        kbuild.module_path(k, "netmap")


def test_mirror_copies_only_changes(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "include").mkdir(parents=True)
    for name in ("Kbuild", "a.c", "include/a.h", "gone.c"):
        (src / name).write_text(name)
    (src / "notes.txt").write_text("not a source")
    (src / ".hidden.c").write_text("editor junk")
    old = time.time_ns() - 10**12
    os.utime(src / "a.c", ns=(old, old))

    kbuild.mirror_sources(src, dst)
    mirrored = sorted(str(p.relative_to(dst)) for p in dst.rglob("*") if p.is_file())
    assert mirrored == [".ptnet-sources", "Kbuild", "a.c", "gone.c", "include/a.h"]
    assert (dst / "a.c").stat().st_mtime_ns == old  # the mtime is kept

    # An unchanged file is not touched; a changed one is copied even with an older mtime.
    kept = (dst / "Kbuild").stat().st_mtime_ns
    (dst / "stale.o").write_text("build output survives")
    (src / "gone.c").unlink()
    (src / "a.c").write_text("older revision")
    older = old - 10**9
    os.utime(src / "a.c", ns=(older, older))
    kbuild.mirror_sources(src, dst)
    assert (dst / "Kbuild").stat().st_mtime_ns == kept
    assert (dst / "a.c").read_text() == "older revision"
    assert (dst / "a.c").stat().st_mtime_ns > old  # newer than the copy it replaced
    assert not (dst / "gone.c").exists()
    assert (dst / "stale.o").exists()
