"""From a VmSpec to its Launch: what this host has, resolved once, at the start of a command.

`plan` finds QEMU, the image (built first), the kernel, the accelerator and a free SSH port, and
makes the run directory; the backend then only carries the Launch out. `plan(..., dry_run=True)`
resolves the same without any side effect: it builds, probes, binds and creates nothing, and
puts a placeholder where only a start knows the value.
"""

import os
import socket

from ptnet import host
from ptnet.backend import base
from ptnet.build import image as images
from ptnet.build import qemu as qemu_build
from ptnet.errors import PtnetError, UsageError
from ptnet.install import qemu as qemu_prefix
from ptnet.lab import accel
from ptnet.lab import kernel as kernels
from ptnet.model.ports import PortSpec
from ptnet.model.vm import VmSpec
from ptnet.plan import image as recipes
from ptnet.plan.ports import check_port_for_mode
from ptnet.plan.qemu_argv import Launch

# What --dry-run prints where a value is only known when the VM starts.
SSH_PORT = "SSH_PORT"
ACCEL = "ACCEL"
IMAGE_KEY = "IMAGE_KEY"
KERNEL = "KERNEL"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def check_ports_available(ports: tuple[PortSpec, ...]) -> None:
    """Ports are real netmap ports or nothing: refuse when this host cannot give them."""
    if ports and not os.path.exists("/dev/netmap"):
        raise PtnetError(
            f"--port {ports[0]}: this host has no /dev/netmap (netmap.ko is not loaded); "
            "install and load it with: sudo ptnet host install (a machine that cannot load "
            "modules can run ptnet inside the lab: ptnet lab run)"
        )


def _our_qemu(*, dry_run: bool) -> str:
    """Our patched QEMU (ptnet-pci, netmap passthrough): the one `ptnet host install` put in
    /opt/ptnet/qemu, else the cache's build; in a dry run, where that build will be."""
    if (installed := qemu_prefix.installed()) is not None:
        return str(installed)
    try:
        return str(qemu_build.binary_path())
    except UsageError:
        if not dry_run:
            raise
        pin = qemu_build.load_pin()
        return str(qemu_build.version_dir(pin) / "build" / qemu_build.BINARY)


def _accel_without_probe(debian_qemu: str, kernel: kernels.Kernel | None) -> str:
    """The accelerator when it is known without booting anything (accel.known()); else the
    ACCEL placeholder."""
    if kernel is None:
        return ACCEL
    return accel.known(debian_qemu, kernel) or ACCEL


def plan(spec: VmSpec, *, dry_run: bool = False) -> tuple[Launch, images.Image | None]:
    """The launch of `spec`, and its image (built first); with dry_run, without side effects
    and without the image."""
    for p in spec.ports:
        check_port_for_mode(p, spec.port_mode)
    debian_qemu = host.require("qemu-system-x86_64", "qemu-system-x86")
    qemu = _our_qemu(dry_run=dry_run) if spec.ports else debian_qemu
    firmware = qemu_build.FIRMWARE_PATH if spec.ports else ()
    if dry_run:
        recipe = recipes.load(spec.image)
        try:
            kernel: kernels.Kernel | None = kernels.find(recipe.kernel)
        except UsageError:
            kernel = None  # none cached yet: `up` fetches it through the image build
        release = kernel.release if kernel is not None else KERNEL
        image, image_key = None, IMAGE_KEY
        vmlinux = kernels.Kernel(release, "", "").vmlinux
        initrd = images.images_cache() / spec.image / IMAGE_KEY / "initrd.cpio"
        accel_name = _accel_without_probe(debian_qemu, kernel)
        run_dir, ssh_port = base.vm_run_dir(spec.name), SSH_PORT
    else:
        check_ports_available(spec.ports)
        image = images.ensure(spec.image)
        image_key, vmlinux, initrd = image.key, image.vmlinux, image.initrd
        accel_name = accel.choose(debian_qemu, kernels.find(image.kernel))
        run_dir, ssh_port = base.make_run_dir(spec.name), free_port()
    launch = Launch(
        spec=spec,
        qemu=qemu,
        accel=accel_name,
        vmlinux=str(vmlinux),
        initrd=str(initrd),
        run_dir=str(run_dir),
        console_log=str(base.console_log(spec.name)),
        ssh_port=ssh_port,
        firmware_dirs=firmware,
        image_name=spec.image,
        image_key=image_key,
    )
    return launch, image
