"""The kernel series up to 7.x: version resolution from apt's answers, the image layouts, the
private apt of a later release, and where kbuild runs (host or chroot). Pure: no apt, no VM."""

import json
from pathlib import Path

import pytest

from ptnet.build import chroot, kbuild
from ptnet.errors import PtnetError
from ptnet.lab import kernel

# apt-cache show --no-all-versions linux-image-amd64, as trixie-backports answered it.
META_7X = (
    "Package: linux-image-amd64\n"
    "Source: linux-signed-amd64 (7.3.4+1~bpo13+1)\n"
    "Version: 7.3.4-1~bpo13+1\n"
    "Depends: linux-base-amd64 (= 7.3.4-1~bpo13+1), "
    "linux-image-7.3.4+deb13-amd64 (= 7.3.4-1~bpo13+1), linux-modules-amd64 (= 7.3.4-1~bpo13+1)\n"
    "Description: Linux for 64-bit PCs (meta-package)\n"
)
# ... and linux-image-<release>, which since 7.x is empty and names the parts.
IMAGE_7X = (
    "Package: linux-image-7.3.4+deb13-amd64\n"
    "Version: 7.3.4-1~bpo13+1\n"
    "Depends: dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, "
    "linux-base-7.3.4+deb13-amd64 (= 7.3.4-1~bpo13+1), "
    "linux-binary-7.3.4+deb13-amd64 (= 7.3.4-1~bpo13+1), "
    "linux-modules-7.3.4+deb13-amd64 (= 7.3.4-1~bpo13+1)\n"
)
META_61 = """Package: linux-image-amd64
Version: 6.1.158-1
Depends: linux-image-6.1.0-57-amd64 (= 6.1.158-1)
"""
IMAGE_61 = """Package: linux-image-6.1.0-57-amd64
Version: 6.1.158-1
Depends: kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool
"""
RELEASE_7X = "7.3.4+deb13-amd64"


def test_release_and_version_come_from_the_metapackage() -> None:
    version, depends = kernel.parse_control(META_7X)
    assert version == "7.3.4-1~bpo13+1"
    assert kernel.release_of(depends) == RELEASE_7X
    assert kernel.release_of(kernel.parse_control(META_61)[1]) == "6.1.0-57-amd64"
    assert kernel.release_of(["linux-base-amd64"]) == ""


def test_7x_image_is_fetched_with_its_parts() -> None:
    _, depends = kernel.parse_control(IMAGE_7X)
    assert kernel.image_packages(RELEASE_7X, depends) == [
        f"linux-image-{RELEASE_7X}",
        f"linux-base-{RELEASE_7X}",
        f"linux-binary-{RELEASE_7X}",
        f"linux-modules-{RELEASE_7X}",
    ]


def test_6x_image_is_one_package() -> None:
    _, depends = kernel.parse_control(IMAGE_61)
    assert depends == ["kmod", "linux-base", "initramfs-tools"]
    assert kernel.image_packages("6.1.0-57-amd64", depends) == ["linux-image-6.1.0-57-amd64"]


def test_image_layout_6x_and_7x(tmp_path: Path) -> None:
    old = tmp_path / "old"
    assert kernel.image_layout(old, "6.1.0-57-amd64") == (
        old / "boot" / "vmlinuz-6.1.0-57-amd64",
        old / "boot" / "config-6.1.0-57-amd64",
        old / "lib" / "modules" / "6.1.0-57-amd64",
    )
    merged = tmp_path / "new" / "usr" / "lib" / "modules" / RELEASE_7X
    merged.mkdir(parents=True)
    (merged / "vmlinuz").write_bytes(b"bzImage")
    assert kernel.image_layout(tmp_path / "new", RELEASE_7X) == (
        merged / "vmlinuz",
        merged / "config",
        merged,
    )


def test_headers_makefile_is_relocated_into_the_cache() -> None:
    text = (
        f"KBUILD_OUTPUT=/usr/src/linux-headers-{RELEASE_7X}\n"
        "include /usr/src/linux-headers-7.3.4+deb13-common/Makefile\n"
        "# a comment naming /usr/src/ stays\n"
    )
    out = kernel.relocate_makefile(text, Path("/c/kernels/r"))
    assert out.splitlines() == [
        f"KBUILD_OUTPUT=/c/kernels/r/headers/usr/src/linux-headers-{RELEASE_7X}",
        "include /c/kernels/r/headers/usr/src/linux-headers-7.3.4+deb13-common/Makefile",
        "# a comment naming /c/kernels/r/headers/usr/src/ stays",
    ]


def test_series_and_their_apt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTNET_CACHE_DIR", str(tmp_path))
    assert list(kernel.SERIES) == ["bookworm", "bookworm-backports", "trixie-backports"]
    assert kernel.apt_options("bookworm") == []
    assert kernel.apt_options("bookworm-backports") == [
        "-o",
        "APT::Default-Release=bookworm-backports",
    ]
    # trixie is never added to the host's apt: its lists live in the cache.
    opts = kernel.apt_options("trixie-backports")
    assert opts[:2] == ["-o", "APT::Default-Release=trixie-backports"]
    base = tmp_path / "apt" / "trixie-backports"
    assert f"Dir::Etc::SourceList={base / 'sources.list'}" in opts
    assert f"Dir::State::Lists={base / 'lists'}" in opts
    assert f"Dir::Cache={base / 'cache'}" in opts
    assert all(o == "-o" or str(base) in o or "Default-Release" in o for o in opts)
    assert kernel.check_series("trixie-backports") == "trixie-backports"


@pytest.mark.parametrize(
    ("series", "release"),
    [
        ("bookworm", None),
        ("bookworm-backports", None),  # gcc-12, like the host's
        ("trixie-backports", "trixie"),  # gcc-14 and trixie's libc: a chroot
        ("some-future-series", None),  # a kernel cached by another ptnet
    ],
)
def test_kbuild_runs_in_a_chroot_only_for_a_later_release(series: str, release: str) -> None:
    k = kernel.Kernel(release="r", version="v", series=series)
    assert kbuild.build_release(k) == release


def test_headers_name_their_compiler() -> None:
    variables = (
        "override ARCH = x86\n"
        "CC = $(if $(DEBIAN_KERNEL_USE_CCACHE),$(CCACHE)) $(CROSS_COMPILE)gcc-14\n"
    )
    assert kbuild.headers_compiler(variables) == "gcc-14"
    assert kbuild.headers_compiler("CC = gcc\n") is None


def test_chroot_packages_and_stamp(tmp_path: Path) -> None:
    wanted = chroot.packages_for("trixie", "gcc-14")
    assert "gcc-14" in wanted and "make" in wanted and "pahole" in wanted
    assert wanted == sorted(wanted)
    with pytest.raises(PtnetError, match="no kbuild chroot recipe for Debian bullseye"):
        chroot.packages_for("bullseye", "gcc-10")
    root = tmp_path / "root"
    assert not chroot.has_packages(root, wanted)  # not made yet
    root.mkdir()
    assert not chroot.has_packages(root, wanted)  # debootstrap did not finish
    (root / ".ptnet-packages").write_text("\n".join(wanted) + "\n")
    assert chroot.has_packages(root, wanted)
    assert not chroot.has_packages(root, [*wanted, "gcc-15"])  # then it is made again


def test_chroot_command_binds_the_paths_it_is_given() -> None:
    argv = chroot.command(
        Path("/c/chroots/trixie/root"),
        [Path("/c/kernels/r"), Path("/c/build/modules/r"), Path("/c/kernels/r")],
        ["make", "-C", "/c/kernels/r/headers", "modules"],
    )
    assert argv[1:5] == ["--mount", "--propagation", "private", "--"]
    assert argv[5:7] == ["sh", "-c"]
    sep = argv.index("--", 8)
    assert argv[8:sep] == ["sh", "/c/chroots/trixie/root", "/c/kernels/r", "/c/build/modules/r"]
    assert argv[sep + 1 :] == ["make", "-C", "/c/kernels/r/headers", "modules"]
    with pytest.raises(PtnetError, match="not an absolute path"):
        chroot.command(Path("/r"), [Path("relative")], ["true"])


def test_find_picks_7x_by_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTNET_CACHE_DIR", str(tmp_path))
    for release, version, series in [
        ("6.1.0-57-amd64", "6.1.158-1", "bookworm"),
        ("6.12.95+deb12-amd64", "6.12.95-1~bpo12+1", "bookworm-backports"),
        (RELEASE_7X, "7.3.4-1~bpo13+1", "trixie-backports"),
    ]:
        d = tmp_path / "kernels" / release
        d.mkdir(parents=True)
        meta = {"release": release, "version": version, "series": series}
        (d / "meta.json").write_text(json.dumps(meta))
    for spec in ("7.3", "trixie-backports", RELEASE_7X, "7.3.4-1~bpo13+1"):
        assert kernel.find(spec).release == RELEASE_7X
    assert kernel.find(None).release == "6.1.0-57-amd64"
    assert kernel.find("6.1").release == "6.1.0-57-amd64"
