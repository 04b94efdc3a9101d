"""Image recipes written for tests (tests/unit/test_image.py, tests/integration)."""

from pathlib import Path


def write_recipe(root: Path, name: str, toml: str, files: dict[str, str] | None = None) -> None:
    d = root / name
    (d / "files").mkdir(parents=True)
    (d / "recipe.toml").write_text(toml)
    for rel, text in (files or {}).items():
        (d / "files" / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / "files" / rel).write_text(text)
