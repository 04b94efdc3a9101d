"""A lab pair: two lab VMs standing for two hosts of a chain, joined by a virtual link.

Lab VM "a" is the machine a user works on; lab VM "b" is a remote host. Each has a second NIC
(virtio-net) on one QEMU UDP socket netdev pointing at the other (no listener, so neither waits
for the other to start), addressed A_ADDR and B_ADDR. Both boot from the host's root filesystem,
as every lab VM does, and share one read-write directory (`shared`): the SSH keys, b's
readiness, a's results, and the stop file that ends b.

b runs HOST_SCRIPT: its NIC up, libvirtd and virtlogd by hand (no systemd), and sshd on B_ADDR:22
trusting a's key, then waits for the stop file. b's libvirt is the lab's (ptnet/lab/libvirtd.py):
qemu.conf as `ptnet host install` leaves it, without libvirt's private /dev. a runs
`command` after CLIENT_SCRIPT has given root an SSH client config for b (key, no host-key
prompts) and waited for b to be ready.

    a, b = pair.run(a_spec, b_spec, shared)

Both QEMUs die with the thread that started them (runner.run), and b is stopped once a's command
has ended, whatever its outcome: nothing is left behind.

sshd: the host's /usr/sbin/sshd, else an openssh-server package extracted into
CACHE/sshd/root: SSHD_PACKAGES extracted there by fetch_sshd() (`ptnet setup` calls it).
"""

import os
import shlex
import socket
import subprocess
import threading
from dataclasses import replace
from pathlib import Path

from ptnet import host, paths
from ptnet.errors import PtnetError
from ptnet.lab import libvirtd, runner

A_ADDR, B_ADDR, PREFIX = "10.16.0.1", "10.16.0.2", 24
MACS = {"a": "52:54:00:16:00:01", "b": "52:54:00:16:00:02"}
READY, STOP = "b.ready", "stop"
KEY = "keys/client"
HOME = "/tmp/pair-home"  # root's home in a, for its SSH client config
SSHD_USER = "sshd:x:899:65534::/run/sshd:/usr/sbin/nologin"


# openssh-server, and the one library it needs that a machine without it lacks
SSHD_PACKAGES = ("openssh-server", "libwrap0")


def sshd_root() -> Path | None:
    """Where sshd is: / (the host's), CACHE/sshd/root, or None."""
    for root in (Path("/"), paths.cache_dir() / "sshd" / "root"):
        if (root / "usr/sbin/sshd").is_file():
            return root.resolve()
    return None


def fetch_sshd() -> Path:
    """b's sshd: the host's, or SSHD_PACKAGES downloaded and extracted into the cache (never
    installed), once."""
    found = sshd_root()
    if found is not None:
        return found
    work = paths.cache_dir() / "sshd"
    for package in SSHD_PACKAGES:
        host.dpkg_extract(host.apt_download(package, work / "deb"), work / "root.new")
    os.replace(work / "root.new", work / "root")
    return (work / "root").resolve()


def _free_udp_ports(n: int) -> list[int]:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def link_args(mac: str, local: int, remote: int) -> list[str]:
    """The second NIC: a UDP socket netdev from 127.0.0.1:local to 127.0.0.1:remote."""
    return [
        "-netdev", f"socket,id=pair,udp=127.0.0.1:{remote},localaddr=127.0.0.1:{local}",
        "-device", f"virtio-net-pci,netdev=pair,mac={mac}",
    ]  # fmt: skip


def _nic_up(mac: str, addr: str) -> str:
    """Load virtio-net and vxlan (the lab kernel loads no module on demand, and a chain's
    uplinks between the two hosts are VXLAN devices), find the NIC by its MAC, give it `addr`;
    $PAIR_DEV names it after."""
    return (
        "modprobe virtio_net && modprobe vxlan && ip link set lo up && "
        f"PAIR_DEV=$(grep -l {mac} /sys/class/net/*/address | cut -d/ -f5) && "
        f'[ -n "$PAIR_DEV" ] && ip addr add {addr}/{PREFIX} dev "$PAIR_DEV" && '
        'ip link set "$PAIR_DEV" up && export PAIR_DEV'
    )


def host_script(shared: Path, sshd: Path) -> str:
    """What b runs: its NIC, libvirtd, sshd; then it waits for the stop file."""
    q = shlex.quote
    conf = shared / "sshd_config"
    lib = sshd / "usr/lib/x86_64-linux-gnu"
    return " && ".join(
        [
            "set -e",
            _nic_up(MACS["b"], B_ADDR),
            # the root filesystem is the host's, read-only: sshd's state in tmpfs, libvirt's
            # directories and configuration in writable layers (ptnet/lab/libvirtd.py)
            "mkdir -p /run/sshd /tmp/xdg/run /tmp/xdg/config /tmp/xdg/cache",
            f"cp /etc/passwd /tmp/passwd && echo {q(SSHD_USER)} >>/tmp/passwd",
            "mount --bind /tmp/passwd /etc/passwd",
            libvirtd.start_script(),
            f"LD_LIBRARY_PATH={q(str(lib))} {q(str(sshd / 'usr/sbin/sshd'))} -f {q(str(conf))}"
            f" -E {q(str(shared / 'sshd.log'))}",
            f"echo up >{q(str(shared / READY))}",
            f"while [ ! -e {q(str(shared / STOP))} ]; do sleep 0.5; done",
        ]
    )


def client_script(shared: Path, wait: float) -> str:
    """What a runs before its command: its NIC, root's SSH client config, and b's readiness."""
    q = shlex.quote
    config = "\n".join(
        [
            f"Host {B_ADDR.rsplit('.', 1)[0]}.*",
            f"  IdentityFile {shared / KEY}",
            "  UserKnownHostsFile /dev/null",
            "  StrictHostKeyChecking no",
            "  LogLevel ERROR",
        ]
    )
    return " && ".join(
        [
            _nic_up(MACS["a"], A_ADDR),
            # root's home is the host's, read-only (and its Python may live there): another one
            f"mkdir -p -m 700 {HOME}/.ssh && printf '%s\\n' {q(config)} >{HOME}/.ssh/config",
            f"sed 's|^root:\\([^:]*:[^:]*:[^:]*:[^:]*\\):[^:]*:|root:\\1:{HOME}:|' /etc/passwd"
            " >/tmp/passwd && mount --bind /tmp/passwd /etc/passwd",
            f"export HOME={HOME}",
            f"n=0; while [ ! -e {q(str(shared / READY))} ]; do n=$((n+1)); "
            f"[ $n -gt {int(wait * 2)} ] && echo 'lab pair: b never came up' >&2 && exit 125; "
            "sleep 0.5; done",
        ]
    )


def _keys(shared: Path) -> None:
    (shared / "keys").mkdir(exist_ok=True)
    for name in ("client", "host"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(shared / "keys" / name)],
            check=True,
        )
    (shared / "sshd_config").write_text(
        "\n".join(
            [
                f"ListenAddress {B_ADDR}",
                "Port 22",
                f"HostKey {shared / 'keys/host'}",
                f"AuthorizedKeysFile {shared / 'keys/client.pub'}",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "PidFile /run/sshd.pid",
                "SetEnv XDG_RUNTIME_DIR=/tmp/xdg/run XDG_CONFIG_HOME=/tmp/xdg/config "
                "XDG_CACHE_HOME=/tmp/xdg/cache",
                "",
            ]
        )
    )


def run(
    a: runner.LabSpec,
    b: runner.LabSpec,
    shared: Path,
    *,
    a_output: Path,
    b_output: Path,
    wait: float = 600.0,
) -> tuple[runner.LabResult, runner.LabResult | None]:
    """Boot b as a host and a running a.command (after CLIENT_SCRIPT); b's command is replaced.
    Returns both results once both VMs are gone (b's None when it failed to boot)."""
    sshd = sshd_root()
    if sshd is None:
        raise PtnetError("lab pair: no sshd (apt-get download openssh-server; see ptnet/lab/pair)")
    _keys(shared)
    pa, pb = _free_udp_ports(2)
    a = replace(
        a,
        command=["sh", "-c", f"{client_script(shared, wait)} && exec {shlex.join(a.command)}"],
        rw_dirs=[*a.rw_dirs, shared],
        qemu_args=[*a.qemu_args, *link_args(MACS["a"], pa, pb)],
    )
    b = replace(
        b,
        command=["sh", "-c", host_script(shared, sshd)],
        rw_dirs=[*b.rw_dirs, shared],
        qemu_args=[*b.qemu_args, *link_args(MACS["b"], pb, pa)],
    )
    b_result: list[runner.LabResult | None] = [None]

    def host_b() -> None:
        with b_output.open("wb") as out:
            try:
                b_result[0] = runner.run(b, output=out)
            except PtnetError as exc:
                out.write(f"lab pair: b: {exc}\n".encode())

    thread = threading.Thread(target=host_b, name="lab-pair-b", daemon=True)
    thread.start()
    try:
        with a_output.open("wb") as out:
            a_result = runner.run(a, output=out)
    finally:
        (shared / STOP).touch()
        thread.join(b.timeout + 30)
    return a_result, b_result[0]
