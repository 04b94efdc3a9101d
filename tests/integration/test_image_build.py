"""Real guest image builds: the default image, cached by its inputs, and a derived recipe.
(The recipes themselves are tested pure in tests/unit/test_image.py.)"""

import json
import shutil
import stat

import pytest
from image_recipes import write_recipe

from ptnet.lab import kernel
from ptnet.plan import image as plan


def read_cpio(data: bytes) -> dict[str, tuple[int, bytes]]:
    """A newc archive: name -> (mode, content)."""
    out, pos = {}, 0
    while True:
        assert data[pos : pos + 6] == b"070701"
        fields = [int(data[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        pos += 110
        name = data[pos : pos + namesize - 1].decode()
        pos += namesize + (-(110 + namesize) % 4)
        content = data[pos : pos + size]
        pos += size + (-size % 4)
        if name == "TRAILER!!!":
            return out
        out[name] = (mode, content)


needs_build_inputs = pytest.mark.skipif(
    not kernel.cached() or shutil.which("busybox") is None,
    reason="needs a cached kernel (ptnet kernel fetch), busybox-static, built modules and tools",
)


@pytest.mark.slow
@needs_build_inputs
def test_default_image_build_is_cached_and_complete(tmp_path, monkeypatch, run_ptnet):
    from ptnet.build import image
    from ptnet.guest import ssh

    monkeypatch.setenv("PTNET_STATE_DIR", str(tmp_path / "state"))
    env = {"PTNET_STATE_DIR": str(tmp_path / "state")}
    first = run_ptnet("image", "build", env=env)
    assert first.returncode == 0, first.stderr
    manifest = json.loads(first.stdout)
    img = image.current("default")
    assert manifest["key"] == img.key and img.built
    mtime = (img.dir / "manifest.json").stat().st_mtime_ns
    again = run_ptnet("image", "build", env=env)
    assert again.returncode == 0 and json.loads(again.stdout) == manifest
    assert "building image" not in again.stderr
    assert (img.dir / "manifest.json").stat().st_mtime_ns == mtime

    files = read_cpio(img.initrd.read_bytes())
    assert manifest["initrd_bytes"] == img.initrd.stat().st_size
    assert files["init"][0] & 0o111 and files["init"][1].startswith(b"#!/bin/sh")
    for path in ("usr/sbin/dropbear", "usr/bin/pkt-gen", "usr/bin/vale-ctl", "usr/bin/bridge"):
        assert stat.S_ISREG(files[path][0]) and files[path][0] & 0o111, path
    assert "lib/modules/netmap.ko" in files and "lib/modules/virtio_net.ko" in files
    assert manifest["modules"].index("netmap.ko") > manifest["modules"].index("virtio_net.ko")
    host_key_mode, host_key = files["etc/dropbear/dropbear_ed25519_host_key"]
    assert host_key_mode & 0o777 == 0o600 and host_key
    assert files["root/.ssh/authorized_keys"][1].decode().strip() == ssh.client_key()[1]
    assert img.host_key.startswith("ssh-ed25519 ")
    assert not any(p.startswith("usr/share/doc") for p in files)

    listed = json.loads(run_ptnet("image", "list", "--format", "json", env=env).stdout)
    assert {"name": "default", "key": img.key, "current": True}.items() <= next(
        r for r in listed if r["key"] == img.key
    ).items()


@pytest.mark.slow
@needs_build_inputs
def test_a_derived_recipe_adds_files_and_commands(tmp_path, monkeypatch):
    from ptnet.build import image

    images = tmp_path / "images"
    shutil.copytree(plan.images_dir() / "default", images / "default")
    write_recipe(
        images,
        "extra",
        'extends = "default"\ncommands = ["echo extra-{{ image }} > /run/extra"]\n',
        {"etc/extra.j2": "image={{ image }} kernel={{ kernel }}\n"},
    )
    monkeypatch.setenv("PTNET_IMAGES_DIR", str(images))
    monkeypatch.setenv("PTNET_STATE_DIR", str(tmp_path / "state"))
    img = image.ensure("extra")
    files = read_cpio(img.initrd.read_bytes())
    assert files["etc/extra"][1] == f"image=extra kernel={img.kernel}\n".encode()
    assert b"\necho extra-extra > /run/extra\n" in files["init"][1]
    assert image.current("extra").key == img.key
    (images / "extra" / "files" / "etc" / "extra.j2").write_text("changed\n")
    assert image.current("extra").key != img.key
    shutil.rmtree(img.dir.parent)
