"""Guest image recipes: extension, templates, errors and input keys. Pure: real builds are in
tests/integration/test_image_build.py."""

import os

import pytest
from image_recipes import write_recipe

from ptnet.errors import UsageError
from ptnet.plan import image as plan


@pytest.fixture
def recipes(tmp_path, monkeypatch):
    monkeypatch.setenv("PTNET_IMAGES_DIR", str(tmp_path))
    return tmp_path


def test_the_default_recipe():
    r = plan.load("default")
    assert "dropbear-bin" in r.packages
    assert {"virtio_pci", "virtio_net"} <= set(r.kernel_modules)
    assert r.tools == ("pkt-gen", "vale-ctl", "bridge")
    assert r.ptnet_modules is True
    assert {"init", "etc/passwd", "etc/shells"} <= set(r.files)


def test_extends_appends_lists_and_overlays_files(recipes):
    write_recipe(
        recipes,
        "base",
        'packages = ["a"]\ncommands = ["echo one"]\ntools = ["pkt-gen"]\n',
        {"init.j2": "{% for c in commands %}{{ c }};{% endfor %}{{ image }}\n", "etc/x": "base"},
    )
    write_recipe(
        recipes,
        "child",
        'extends = "base"\npackages = ["b"]\ncommands = ["echo two"]\nkernel = "6.12"\n',
        {"etc/x": "child", "etc/motd.j2": "hello from {{ image }} on {{ kernel }}\n"},
    )
    r = plan.load("child")
    assert (r.packages, r.commands, r.tools, r.kernel) == (
        ("a", "b"),
        ("echo one", "echo two"),
        ("pkt-gen",),
        "6.12",
    )
    out = plan.render_files(r, {"kernel": "6.12.9"})
    assert out == {
        "init": b"echo one;echo two;child\n",
        "etc/x": b"child",
        "etc/motd": b"hello from child on 6.12.9\n",
    }
    assert plan.available() == ["base", "child"]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("pakages = []\n", "unknown key 'pakages'"),
        ("packages = 'dropbear'\n", "packages must be a list of strings"),
        ('extends = "loop"\n', "extends itself"),
        ("packages = [\n", "recipe.toml"),
    ],
)
def test_bad_recipes_are_usage_errors(recipes, toml, message):
    write_recipe(recipes, "loop", toml)
    with pytest.raises(UsageError, match=message):
        plan.load("loop")


def test_unknown_and_badly_named_images(recipes):
    write_recipe(recipes, "one", "")
    with pytest.raises(UsageError, match="unknown image 'two'; the recipes are: one"):
        plan.load("two")
    with pytest.raises(UsageError, match="image name '../x'"):
        plan.load("../x")


def test_a_template_using_an_unknown_variable_names_itself(recipes):
    write_recipe(recipes, "t", "", {"init.j2": "{{ nosuch }}"})
    with pytest.raises(UsageError, match=r"template .*init\.j2: 'nosuch' is undefined"):
        plan.render_files(plan.load("t"), {})


def test_input_key_depends_on_every_input_but_not_on_order():
    a = plan.input_key({"x": b"1", "y": "2"})
    assert a == plan.input_key({"y": "2", "x": b"1"})
    assert a != plan.input_key({"x": b"1", "y": "3"})
    assert a != plan.input_key({"x": b"12", "y": ""})


def test_image_cli_errors(run_ptnet, tmp_path):
    proc = run_ptnet("image", "build", "no-such", env={"PTNET_STATE_DIR": str(tmp_path)})
    assert proc.returncode == 2
    assert proc.stderr.startswith("ptnet: error: unknown image 'no-such'; the recipes are:")
    assert len(proc.stderr.splitlines()) == 1
    assert os.listdir(tmp_path) in ([], ["ssh"])
