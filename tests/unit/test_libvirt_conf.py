"""`ptnet host install`'s edit of libvirt's qemu.conf: /dev/netmap in cgroup_device_acl (libvirt
gives QEMU a private /dev holding only that list), undone exactly by uninstall."""

import pytest

from ptnet.install import libvirt_conf as lc

DEBIAN_LIKE = """\
# Master configuration file for the QEMU driver.
#
#cgroup_device_acl = [
#    "/dev/null", "/dev/full", "/dev/zero",
#]
#user = "libvirt-qemu"
"""

OWN_LIST = """\
user = "root"
cgroup_device_acl = [
    "/dev/null", "/dev/kvm",
]
security_driver = "none"
"""


@pytest.mark.parametrize("text", ["", DEBIAN_LIKE, OWN_LIST, DEBIAN_LIKE.rstrip("\n")])
def test_install_then_uninstall_gives_the_text_back(text):
    edited = lc.with_netmap(text)
    assert lc.allows_netmap(edited)
    assert not lc.allows_netmap(text)
    assert lc.with_netmap(edited) == edited  # a second install changes nothing
    assert lc.without_netmap(edited) == (text + "\n" if text and not text.endswith("\n") else text)


def test_without_a_list_ours_repeats_libvirts_defaults_then_netmap():
    edited = lc.with_netmap(DEBIAN_LIKE)
    assert edited.startswith(DEBIAN_LIKE)
    block = edited[len(DEBIAN_LIKE) :].splitlines()
    assert block[0] == lc.BEGIN and block[-1] == lc.END
    assert block[1] == (
        'cgroup_device_acl = [ "/dev/null", "/dev/full", "/dev/zero", "/dev/random", '
        '"/dev/urandom", "/dev/ptmx", "/dev/kvm", "/dev/userfaultfd", "/dev/netmap" ]'
    )


def test_the_admins_own_list_gets_netmap_first_and_keeps_the_rest():
    edited = lc.with_netmap(OWN_LIST)
    assert 'cgroup_device_acl = [ "/dev/netmap",\n    "/dev/null", "/dev/kvm",\n]' in edited
    assert edited.count("cgroup_device_acl") == 1  # no second list to contradict the admin's
    assert 'security_driver = "none"' in edited


def test_a_commented_list_does_not_count_as_allowing_netmap():
    assert not lc.allows_netmap('#cgroup_device_acl = [ "/dev/netmap" ]\n')
    assert lc.allows_netmap('cgroup_device_acl = [\n  "/dev/null",\n  "/dev/netmap"\n]\n')
    assert not lc.allows_netmap('cgroup_device_acl = [ "/dev/null" ]\n# "/dev/netmap"\n')


def test_host_status_row_says_whether_libvirts_qemu_may_open_netmap(tmp_path):
    from ptnet.install.status import libvirt_check

    conf = tmp_path / "libvirt" / "qemu.conf"
    row = libvirt_check(conf)
    assert (row.ok, row.detail) == (True, "libvirt is not installed")
    conf.parent.mkdir()
    row = libvirt_check(conf)
    assert not row.ok and row.detail == f"{conf} has no /dev/netmap in cgroup_device_acl"
    conf.write_text(lc.with_netmap('user = "root"\n'))
    row = libvirt_check(conf)
    assert (row.ok, row.detail) == (True, f"in cgroup_device_acl ({conf})")
