"""Everything that changes the host outside ptnet's own cache goes through here.

That is: apt (sources, update, install, download) and the programs ptnet runs. Each action is
logged on stderr before it happens, so a user (and a test) can see exactly what was done.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ptnet.errors import MissingTool, PtnetError

APT_SOURCES_DIR = Path("/etc/apt/sources.list.d")


def log(msg: str) -> None:
    print(f"ptnet: {msg}", file=sys.stderr, flush=True)


def require(program: str, package: str) -> str:
    """Return the path of `program`, or fail with the Debian package that provides it."""
    path = shutil.which(program)
    if path is None:
        raise MissingTool(f"{program} not found; install it with: apt-get install {package}")
    return path


def run(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    capture: bool = False,
    quiet: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run a program; raise PtnetError naming it when it fails.

    With capture=True stdout is returned (stderr still goes to the user's stderr).
    """
    if not quiet:
        log("$ " + " ".join(str(a) for a in argv))
    merged = None if env is None else {**os.environ, **env}
    try:
        proc = subprocess.run(
            [str(a) for a in argv],
            cwd=cwd,
            env=merged,
            text=True,
            stdout=subprocess.PIPE if capture else sys.stderr,
            stderr=subprocess.PIPE if capture else None,
            check=False,
        )
    except FileNotFoundError as exc:
        raise MissingTool(f"{argv[0]} not found") from exc
    if proc.returncode != 0:
        detail = (proc.stderr or "").strip().splitlines()
        tail = f": {detail[-1]}" if detail else ""
        raise PtnetError(f"{Path(str(argv[0])).name} failed with exit code {proc.returncode}{tail}")
    return proc


def as_root(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return argv
    return [require("sudo", "sudo"), *argv]


def write_file(dest: Path, text: str, mode: int = 0o644) -> None:
    """Write `text` into the host's file `dest` (root's, `mode`), its directory made if needed."""
    with tempfile.TemporaryDirectory(prefix="ptnet-") as tmp:
        staged = Path(tmp) / dest.name
        staged.write_text(text)
        run(as_root(["install", "-D", "-m", f"{mode:o}", str(staged), str(dest)]))


def remove(targets: Sequence[Path]) -> None:
    """Remove the host's files and directory trees in `targets` that exist."""
    present = [str(t) for t in targets if t.exists() or t.is_symlink()]
    if present:
        run(as_root(["rm", "-rf", "--", *present]))


APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}


def apt_update() -> None:
    run(as_root(["apt-get", "update", "-q"]), env=APT_ENV)


def apt_install(packages: Sequence[str], *, release: str | None = None) -> None:
    argv = ["apt-get", "install", "-y", "-q", "--no-install-recommends"]
    if release:
        argv += ["-t", release]
    run(as_root([*argv, *packages]), env=APT_ENV)


# apt's _apt sandbox user cannot write into root's cache; as root, download as root, quietly.
APT_AS_ROOT: tuple[str, ...] = ("-o", "APT::Sandbox::User=root") if os.geteuid() == 0 else ()


def apt_download(package: str, dest: Path, *, options: Sequence[str] = ()) -> Path:
    """Download one .deb into `dest` without installing it; return its path.

    `options` are extra apt options (for example a private apt configuration).
    """
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.glob("*.deb"))
    argv = ["apt-get", *options, *APT_AS_ROOT, "download", "-q", package]
    run(argv, cwd=dest, env=APT_ENV)
    new = sorted(set(dest.glob("*.deb")) - before) or sorted(dest.glob(f"{package}_*.deb"))
    if not new:
        raise PtnetError(f"apt-get download {package} produced no .deb in {dest}")
    return new[-1]


def apt_query(argv: Sequence[str]) -> str:
    """Run a read-only apt query (apt-cache, apt-get -s) and return its stdout."""
    return run(list(argv), capture=True, quiet=True).stdout


def dpkg_extract(deb: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    run(["dpkg-deb", "-x", str(deb), str(dest)], quiet=True)


def _configured_debian_uri(suite: str) -> str:
    """The mirror URI the host already uses for `suite` (we never name a mirror ourselves)."""
    for path in [Path("/etc/apt/sources.list"), *sorted(APT_SOURCES_DIR.glob("*"))]:
        if not path.is_file() or path.suffix not in ("", ".list", ".sources"):
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            for stanza in text.split("\n\n"):
                fields = _deb822(stanza)
                if (
                    suite in fields.get("Suites", "").split()
                    and "main" in fields.get("Components", "").split()
                ):
                    return fields["URIs"].split()[0]
        else:
            for line in text.splitlines():
                words = line.split("#", 1)[0].split()
                if len(words) >= 4 and words[0] == "deb":
                    rest = [w for w in words[1:] if not w.startswith("[")]
                    if len(rest) >= 3 and rest[1] == suite and "main" in rest[2:]:
                        return rest[0]
    raise PtnetError(f"no apt source for Debian suite {suite!r} is configured on this host")


def _deb822(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in stanza.splitlines():
        if line.startswith("#") or ":" not in line or line[:1].isspace():
            continue
        key, value = line.split(":", 1)
        fields[key.strip()] = value.strip()
    return fields


def ensure_apt_suite(suite: str, *, base: str = "bookworm", types: str = "deb") -> bool:
    """Make `suite` (for example bookworm-backports) available to apt, using the host's own mirror.

    Returns True when a sources file was written (the caller should then run apt_update()).
    """
    target = APT_SOURCES_DIR / f"ptnet-{suite}.sources"
    wanted_types = set(types.split())
    if target.exists():
        have = set(_deb822(target.read_text()).get("Types", "").split())
        if wanted_types <= have:
            return False
        wanted_types |= have
    uri = _configured_debian_uri(base)
    body = (
        f"Types: {' '.join(sorted(wanted_types))}\n"
        f"URIs: {uri}\n"
        f"Suites: {suite}\n"
        "Components: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )
    log(f"writing {target} (suite {suite} from the host's configured mirror)")
    if os.geteuid() == 0:
        target.write_text(body)
    else:
        subprocess.run(
            as_root(["tee", str(target)]),
            input=body,
            text=True,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return True
