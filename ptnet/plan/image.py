"""Guest image recipes: load them from images/, render their jinja2 templates, key their inputs.

A recipe is images/NAME/recipe.toml (images/ or PTNET_IMAGES_DIR) plus a files/ tree. Every file
under files/ lands in the image at the same relative path; names ending in .j2 are jinja2
templates rendered with the recipe's context (and lose the suffix). A recipe may say
`extends = "default"`: its lists are appended to the parent's, its scalars replace the parent's
and its files overlay the parent's.

This module is pure: it reads the recipe files and returns data. The build (debs, keys, the cpio
archive) is in ptnet/build/image.py.
"""

import hashlib
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptnet import paths
from ptnet.errors import UsageError

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_LIST_KEYS = ("packages", "kernel_modules", "tools", "commands")
_KNOWN_KEYS = frozenset({"description", "kernel", "ptnet_modules", "extends", *_LIST_KEYS})


def images_dir() -> Path:
    """The recipes: PTNET_IMAGES_DIR, else the checkout's images/."""
    return Path(os.environ.get("PTNET_IMAGES_DIR") or paths.source_root() / "images")


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str = ""
    kernel: str = "bookworm"
    packages: tuple[str, ...] = ()
    kernel_modules: tuple[str, ...] = ()
    ptnet_modules: bool = True
    tools: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()
    # image path -> source file, the child's files overriding the parent's
    files: dict[str, Path] = field(default_factory=dict)


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsageError(f"image name {name!r}: use 1-32 of a-z, 0-9, '-' and '_'")
    return name


def available() -> list[str]:
    base = images_dir()
    return sorted(p.parent.name for p in base.glob("*/recipe.toml")) if base.is_dir() else []


def load(name: str, _seen: tuple[str, ...] = ()) -> Recipe:
    """The recipe `name`, with its parents merged in."""
    check_name(name)
    path = images_dir() / name / "recipe.toml"
    if not path.is_file():
        raise UsageError(f"unknown image {name!r}; the recipes are: {', '.join(available())}")
    if name in _seen:
        raise UsageError(f"image {name!r} extends itself (through {' -> '.join(_seen)})")
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: {exc}") from exc
    unknown = sorted(set(data) - _KNOWN_KEYS)
    if unknown:
        raise UsageError(f"{path}: unknown key {unknown[0]!r}")
    for key in _LIST_KEYS:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"{path}: {key} must be a list of strings")
    files = _files(path.parent / "files")
    if "extends" in data:
        parent = load(str(data["extends"]), (*_seen, name))
        return Recipe(
            name=name,
            description=str(data.get("description", parent.description)),
            kernel=str(data.get("kernel", parent.kernel)),
            ptnet_modules=bool(data.get("ptnet_modules", parent.ptnet_modules)),
            files={**parent.files, **files},
            **{k: (*getattr(parent, k), *data.get(k, [])) for k in _LIST_KEYS},
        )
    return Recipe(
        name=name,
        description=str(data.get("description", "")),
        kernel=str(data.get("kernel", "bookworm")),
        ptnet_modules=bool(data.get("ptnet_modules", True)),
        files=files,
        **{k: tuple(data.get(k, [])) for k in _LIST_KEYS},
    )


def _files(root: Path) -> dict[str, Path]:
    if not root.is_dir():
        return {}
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            rel = str(p.relative_to(root))
            out[rel.removesuffix(".j2")] = p
    return out


def render_files(recipe: Recipe, context: dict[str, Any]) -> dict[str, bytes]:
    """Every file of the recipe, templates rendered with `context` plus the recipe's fields."""
    import jinja2

    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
    )
    ctx = {
        "image": recipe.name,
        "packages": recipe.packages,
        "tools": recipe.tools,
        "commands": recipe.commands,
        **context,
    }
    try:
        ctx["commands"] = tuple(env.from_string(c).render(ctx) for c in recipe.commands)
    except jinja2.TemplateError as exc:
        raise UsageError(f"recipe {recipe.name}: a command: {exc}") from exc
    out: dict[str, bytes] = {}
    for dest, src in recipe.files.items():
        if src.suffix == ".j2":
            try:
                text = env.from_string(src.read_text()).render(ctx)
            except jinja2.TemplateError as exc:
                raise UsageError(f"template {src}: {exc}") from exc
            out[dest] = text.encode()
        else:
            out[dest] = src.read_bytes()
    return out


def input_key(parts: dict[str, bytes | str]) -> str:
    """A short digest of everything an image is built from (name -> content), order-free."""
    h = hashlib.sha256()
    for name in sorted(parts):
        value = parts[name]
        data = value.encode() if isinstance(value, str) else value
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()[:16]
