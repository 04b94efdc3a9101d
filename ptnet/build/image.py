"""Build guest images: one initramfs per recipe and input set, cached and rebuilt only on change.

    images/<name>/<key>/initrd.cpio     busybox, the recipe's .debs, modules, tools, keys, init
    images/<name>/<key>/host_key.pub    the guest's SSH host key (pinned by ptnet, never learnt)
    images/<name>/<key>/manifest.json   kernel, packages, size, build time

The key digests every input that ends up in the image: the recipe and its templates, the kernel
release, busybox, our modules and tools, and the lab's client public key. The Debian packages are
resolved (with their dependencies) and downloaded at build time into cache/debs/. The archive is
assembled with the lab's cpio writer and module resolver (ptnet/lab/initramfs.py).
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptnet import host, paths
from ptnet.errors import PtnetError, UsageError
from ptnet.guest import ssh
from ptnet.lab import initramfs
from ptnet.lab import kernel as kernels
from ptnet.locking import file_lock
from ptnet.plan import image as plan

# Bump when the layout of what this module writes changes, so cached images are rebuilt.
BUILDER_VERSION = "2"
KEEP_BUILDS = 3
HOST_KEY = "etc/dropbear/dropbear_ed25519_host_key"
# Parts of Debian packages a minimal guest never reads.
_PRUNE = (
    "usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian",
    "usr/share/bug", "usr/lib/x86_64-linux-gnu/gconv", "usr/share/zoneinfo", "etc/init.d",
    "lib/systemd", "usr/lib/systemd",
)  # fmt: skip


def images_cache() -> Path:
    return paths.cache_dir() / "images"


@dataclass(frozen=True)
class Image:
    name: str
    key: str
    dir: Path
    kernel: str  # the release it boots

    @property
    def initrd(self) -> Path:
        return self.dir / "initrd.cpio"

    @property
    def manifest(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.dir / "manifest.json").read_text())
        return data

    @property
    def vmlinux(self) -> Path:
        return kernels.Kernel(self.kernel, "", "").vmlinux

    @property
    def host_key(self) -> str:
        return (self.dir / "host_key.pub").read_text().strip()

    @property
    def built(self) -> bool:
        return (self.dir / "manifest.json").is_file()


@dataclass
class _Inputs:
    recipe: plan.Recipe
    kernel: kernels.Kernel
    busybox: Path
    kernel_modules: list[str]  # relative to the kernel's modules dir, in load order
    ptnet_modules: list[Path]
    tools: list[Path]
    client_pub: str

    def key(self) -> str:
        r = self.recipe
        parts: dict[str, bytes | str] = {
            "builder": BUILDER_VERSION,
            "recipe": json.dumps(
                [r.kernel, r.packages, r.kernel_modules, r.ptnet_modules, r.tools, r.commands]
            ),
            "kernel": f"{self.kernel.release} {self.kernel.version}",
            "busybox": self.busybox.read_bytes(),
            "kmods": "\n".join(self.kernel_modules),
            "client": self.client_pub,
        }
        for dest, src in r.files.items():
            parts[f"file:{dest}"] = src.read_bytes()
        for p in [*self.ptnet_modules, *self.tools]:
            parts[f"bin:{p.name}"] = p.read_bytes()
        return plan.input_key(parts)


def _inputs(name: str) -> _Inputs:
    from ptnet.build import kbuild, tools

    recipe = plan.load(name)
    kernel = kernels.find(recipe.kernel)
    ptnet_modules: list[Path] = []
    if recipe.ptnet_modules:
        for sub in kbuild.MODULE_DIRS:
            d = kbuild.modules_dir(kernel) / sub
            if (d / "modules.order").is_file():
                # kernel/ comes first: the guest driver links against netmap.ko's symbols
                ptnet_modules += kbuild._built_modules(d)
        if not ptnet_modules:
            raise UsageError(
                f"image {name} wants our modules, but none are built for {kernel.release}; "
                f"run: ptnet build modules --kernel {kernel.release}"
            )
    return _Inputs(
        recipe=recipe,
        kernel=kernel,
        busybox=Path(host.require("busybox", "busybox-static")),
        kernel_modules=initramfs._module_closure(kernel, recipe.kernel_modules),
        ptnet_modules=ptnet_modules,
        tools=[tools.tool_path(t) for t in recipe.tools],
        client_pub=ssh.client_key()[1],
    )


def current(name: str) -> Image:
    """The image `name` as its inputs stand now (built or not)."""
    inputs = _inputs(name)
    return _image(inputs)


def _image(inputs: _Inputs) -> Image:
    key = inputs.key()
    return Image(
        inputs.recipe.name, key, images_cache() / inputs.recipe.name / key, inputs.kernel.release
    )


def ensure(name: str, *, rebuild: bool = False) -> Image:
    """The image `name`, built first when its inputs changed (or when `rebuild`)."""
    inputs = _inputs(name)
    image = _image(inputs)
    if image.built and not rebuild:
        return image  # builds are renamed into place whole: no lock needed to use one
    try:
        with file_lock(images_cache() / name / ".lock"):
            if image.built and not rebuild:
                return image
            _build(inputs, image)
    except OSError as exc:
        raise PtnetError(f"cannot build image {name} in {images_cache()}: {exc}") from exc
    return image


def _build(inputs: _Inputs, image: Image) -> None:
    start = time.monotonic()
    recipe, kernel = inputs.recipe, inputs.kernel
    host.log(f"building image {recipe.name} ({image.key}) for {kernel.release}")
    image.dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=image.dir.parent, prefix=".build-") as tmp:
        work = Path(tmp)
        root = work / "root"
        root.mkdir()
        packages = _install_debs(recipe.packages, root)
        _prune(root)
        host_pub = _host_key(root, work)
        _busybox(inputs.busybox, root)
        modules = _modules(inputs, root)
        for tool in inputs.tools:
            _put(root / "usr" / "bin" / tool.name, tool.read_bytes(), 0o755)
        ctx = {"kernel": kernel.release, "modules": modules}
        for dest, data in plan.render_files(recipe, ctx).items():
            src = recipe.files[dest]
            mode = 0o755 if dest == "init" or os.access(src, os.X_OK) else 0o644
            _put(root / dest, data, mode)
        (root / "root" / ".ssh").mkdir(parents=True, exist_ok=True, mode=0o700)
        _put(root / "root" / ".ssh" / "authorized_keys", (inputs.client_pub + "\n").encode(), 0o600)
        stage = work / "image"
        stage.mkdir()
        size = _write_cpio(root, stage / "initrd.cpio")
        (stage / "host_key.pub").write_text(host_pub + "\n")
        seconds = round(time.monotonic() - start, 2)
        manifest = {
            "name": recipe.name,
            "key": image.key,
            "description": recipe.description,
            "kernel": kernel.release,
            "vmlinux": str(kernel.vmlinux),
            "packages": packages,
            "modules": modules,
            "tools": [t.name for t in inputs.tools],
            "initrd_bytes": size,
            "build_seconds": seconds,
            "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (stage / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if image.dir.exists():
            shutil.rmtree(image.dir)
        stage.rename(image.dir)
    host.log(f"image {recipe.name}: {size / 1e6:.1f} MB initramfs in {seconds:.1f} s")
    _prune_old(image)


def _prune_old(keep: Image) -> None:
    """Drop all but the newest KEEP_BUILDS builds of the image's name (running VMs read theirs
    only at boot, so this never takes an image from under a VM)."""
    others = sorted(
        (i for i in built() if i.name == keep.name and i.key != keep.key),
        key=_mtime,
        reverse=True,
    )
    for old in others[KEEP_BUILDS - 1 :]:
        shutil.rmtree(old.dir, ignore_errors=True)


def _put(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()
    path.write_bytes(data)
    path.chmod(mode)


def _resolve_packages(names: tuple[str, ...]) -> dict[str, str]:
    """`names` and their dependencies (no recommends): package -> candidate version."""
    if not names:
        return {}
    out = host.apt_query(
        [
            "apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
            "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", *names,
        ]
    )  # fmt: skip
    wanted = sorted({ln for ln in out.splitlines() if ln and not ln[0].isspace() and "<" not in ln})
    shown = host.apt_query(["apt-cache", "show", "--no-all-versions", *wanted])
    versions: dict[str, str] = {}
    pkg = ""
    for line in shown.splitlines():
        if line.startswith("Package:"):
            pkg = line.split(":", 1)[1].strip()
        elif line.startswith("Version:") and pkg:
            versions[pkg] = line.split(":", 1)[1].strip()
    missing = [n for n in names if n not in versions]
    if missing:
        raise UsageError(f"apt does not know package {missing[0]!r}; run apt-get update")
    return versions


def _install_debs(names: tuple[str, ...], root: Path) -> dict[str, str]:
    versions = _resolve_packages(names)
    debs = paths.cache_dir() / "debs"
    with file_lock(debs / ".lock"):
        for pkg, version in versions.items():
            pattern = f"{pkg}_{version.replace(':', '%3a')}_*.deb"
            found = sorted(debs.glob(pattern))
            deb = found[-1] if found else host.apt_download(f"{pkg}={version}", debs)
            host.dpkg_extract(deb, root)
    return versions


def _prune(root: Path) -> None:
    for rel in _PRUNE:
        p = root / rel
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)


def _host_key(root: Path, work: Path) -> str:
    """Generate the guest's ed25519 host key with the image's own dropbearkey; return its pub."""
    dropbearkey = root / "usr" / "bin" / "dropbearkey"
    loader = root / "lib64" / "ld-linux-x86-64.so.2"
    if not dropbearkey.is_file() or not loader.exists():
        raise UsageError("the image has no dropbearkey: its packages must include dropbear-bin")
    libs = ":".join(str(root / d) for d in ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu"))
    key = work / "host_key"
    base = [str(loader.resolve()), "--library-path", libs, str(dropbearkey)]
    gen = subprocess.run(
        [*base, "-t", "ed25519", "-f", str(key)], capture_output=True, text=True, check=False
    )
    if gen.returncode != 0:
        raise PtnetError(f"dropbearkey failed: {gen.stderr.strip()}")
    show = subprocess.run([*base, "-y", "-f", str(key)], capture_output=True, text=True, check=True)
    pub = next((ln for ln in show.stdout.splitlines() if ln.startswith("ssh-ed25519 ")), "")
    if not pub:
        raise PtnetError("dropbearkey printed no ssh-ed25519 public key")
    _put(root / HOST_KEY, key.read_bytes(), 0o600)
    return " ".join(pub.split()[:2])


def _busybox(busybox: Path, root: Path) -> None:
    _put(root / "bin" / "busybox", busybox.read_bytes(), 0o755)
    applets = subprocess.run(
        [str(busybox), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    for applet in applets:
        link = root / "bin" / applet
        if not any((root / d / applet).exists() for d in ("bin", "sbin", "usr/bin", "usr/sbin")):
            link.symlink_to("busybox")
    for d in ("dev", "proc", "sys", "tmp", "run", "root", "var/log", "etc/dropbear"):
        (root / d).mkdir(parents=True, exist_ok=True)


def _modules(inputs: _Inputs, root: Path) -> list[str]:
    """Copy the kernel's and our modules into lib/modules/; return them in load order."""
    names = []
    dest = root / "lib" / "modules"
    for rel in inputs.kernel_modules:
        name = Path(rel).name.split(".ko")[0] + ".ko"
        _put(dest / name, initramfs._read_module(inputs.kernel.modules_dir / rel), 0o644)
        names.append(name)
    objcopy = shutil.which("objcopy")
    dest.mkdir(parents=True, exist_ok=True)
    for ko in inputs.ptnet_modules:
        # kbuild keeps the debug info (megabytes); the guest only needs the code.
        if objcopy:
            subprocess.run([objcopy, "--strip-debug", str(ko), str(dest / ko.name)], check=True)
        else:
            _put(dest / ko.name, ko.read_bytes(), 0o644)
        names.append(ko.name)
    return names


def _write_cpio(root: Path, out: Path) -> int:
    cpio = initramfs.Cpio()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = Path(dirpath)
        for name in [*dirnames, *sorted(filenames)]:
            p = base / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                cpio.symlink(rel, os.readlink(p))
            elif p.is_dir():
                cpio.dir(rel)
            else:
                cpio.file(rel, p.read_bytes(), p.stat().st_mode & 0o7777)
    data = cpio.finish()
    out.write_bytes(data)
    return len(data)


def built() -> list[Image]:
    """Every image in the cache, newest build of each name first."""
    found = []
    for m in images_cache().glob("*/*/manifest.json"):
        kernel = json.loads(m.read_text())["kernel"]
        found.append(Image(m.parent.parent.name, m.parent.name, m.parent, kernel))
    return sorted(found, key=lambda i: (i.name, -_mtime(i)))


def _mtime(image: Image) -> float:
    return (image.dir / "manifest.json").stat().st_mtime
