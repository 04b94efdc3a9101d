"""The interface both backends implement, the VM record they share, and where VM files live.

    state: <state>/vms/<name>.json      the record of a VM this lab started (JSON, atomic writes)
           <state>/vms/<name>.lock      held while a ptnet process changes that VM
           <state>/vms/<name>.console.log
    runtime: <runtime>/vms/<name>/      mode 0700: qmp.sock, console.sock, qemu.pid

The runtime directory is PTNET_RUNTIME_DIR, else $XDG_RUNTIME_DIR/ptnet, else /tmp/ptnet-<uid>;
ptnet creates it with mode 0700 and refuses one that another user owns or others can enter.
"""

import abc
import contextlib
import json
import os
import shutil
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ptnet import paths
from ptnet.errors import PtnetError
from ptnet.model.ports import parse_port
from ptnet.model.vm import BackendName, VmSpec
from ptnet.plan.ports import VmPort
from ptnet.plan.qemu_argv import Launch


def runtime_path() -> Path:
    """Where the runtime directory is (not created: see runtime_dir)."""
    if env := os.environ.get("PTNET_RUNTIME_DIR"):
        return Path(env)
    if xdg := os.environ.get("XDG_RUNTIME_DIR"):
        return Path(xdg) / "ptnet"
    return Path(f"/tmp/ptnet-{os.getuid()}")


def runtime_dir() -> Path:
    """The runtime directory, created private (0700) or checked to be."""
    return _private_dir(runtime_path())


def _private_dir(path: Path) -> Path:
    """Create `path` (mode 0700) or check that an existing one is ours and private."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700, parents=True)
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise PtnetError(f"{path} is not a directory owned by this user; refusing to use it")
    if st.st_mode & 0o077:
        path.chmod(0o700)
    return path


def vm_run_dir(name: str) -> Path:
    return runtime_path() / "vms" / name


def make_run_dir(name: str) -> Path:
    _private_dir(runtime_dir() / "vms")
    return _private_dir(vm_run_dir(name))


def vms_state_dir() -> Path:
    return paths.state_dir() / "vms"


def lock_path(name: str) -> Path:
    return vms_state_dir() / f"{name}.lock"


def console_log(name: str) -> Path:
    return vms_state_dir() / f"{name}.console.log"


def known_hosts(name: str) -> Path:
    return vms_state_dir() / f"{name}.known_hosts"


@dataclass
class Record:
    """What ptnet knows of one VM; enough to reach it, show it and take it down.

    `settings` is the VmSpec it was started with, less its ports; `ports` are the ports it has
    now, with the number and MAC each was given (hot-plug adds and removes them here).
    """

    name: str
    backend: BackendName
    settings: dict[str, Any]
    ports: list[VmPort]
    image: dict[str, str]  # name, key, dir
    ssh_port: int
    run_dir: str
    console_log: str
    known_hosts: str
    accel: str
    pid: int | None = None
    started: str = ""
    ready_seconds: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "ports": [{"spec": str(p.spec), "index": p.index, "mac": p.mac} for p in self.ports],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Record":
        ports = [VmPort(parse_port(p["spec"]), int(p["index"]), p["mac"]) for p in data["ports"]]
        return cls(**{**data, "backend": BackendName(data["backend"]), "ports": ports})

    def spec(self) -> VmSpec:
        """The VM as it is now: its settings with its current ports."""
        return VmSpec.from_dict({**self.settings, "ports": [str(p.spec) for p in self.ports]})


def state_file(name: str) -> Path:
    return vms_state_dir() / f"{name}.json"


def load_record(name: str) -> Record | None:
    path = state_file(name)
    try:
        return Record.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError) as exc:
        raise PtnetError(f"{path} is not a ptnet VM record ({exc}); remove it") from exc


def save_record(record: Record) -> None:
    path = state_file(record.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(record.to_json(), indent=2) + "\n")
    tmp.replace(path)


def records() -> list[Record]:
    found = []
    for p in sorted(vms_state_dir().glob("*.json")):
        if (r := load_record(p.stem)) is not None:
            found.append(r)
    return found


def forget(name: str, run_dir: str | None = None) -> None:
    """Remove every local file of VM `name`: record, known_hosts, runtime dir (not the lock)."""
    for p in (state_file(name), known_hosts(name)):
        p.unlink(missing_ok=True)
    for d in {run_dir, str(vm_run_dir(name))} - {None}:
        shutil.rmtree(str(d), ignore_errors=True)


class Backend(abc.ABC):
    """Starts, watches and stops VMs; both implementations keep the same Record."""

    name: str

    @abc.abstractmethod
    def render(self, launch: Launch) -> str:
        """What --dry-run prints: the exact command line or domain XML."""

    @abc.abstractmethod
    def start(self, launch: Launch, record: Record) -> None:
        """Start the VM; fill in what the backend learnt (pid, ...) into `record`."""

    @abc.abstractmethod
    def alive(self, record: Record) -> bool:
        """Whether the VM's QEMU still runs."""

    @abc.abstractmethod
    def stop(self, record: Record) -> None:
        """Stop the VM (gracefully if it can, then by force); it must be gone on return."""

    @abc.abstractmethod
    def discover(self) -> list[Record]:
        """VMs of this lab the backend can see without local state (for list and down --all)."""

    @abc.abstractmethod
    def qmp(self, record: Record, command: str, arguments: dict[str, Any]) -> Any:
        """Run one QMP command on the VM's QEMU."""
