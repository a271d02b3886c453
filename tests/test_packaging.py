"""What `pip install .` ships: every package, the shaders and the weights, and the same dependencies as
requirements.txt (scripts/setup.sh installs from that file)."""
import os
import re
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pyproject():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def test_every_package_is_in_the_wheel():
    listed = set(pyproject()["tool"]["setuptools"]["packages"])
    on_disk = set()
    for folder, _, names in os.walk(os.path.join(ROOT, "livehdr")):
        if "__init__.py" in names:
            on_disk.add(os.path.relpath(folder, ROOT).replace(os.sep, "."))
    assert on_disk - listed == set(), "packages missing from pyproject.toml"
    assert listed - on_disk == {"livehdr._shaders", "livehdr._weights"}


def test_shaders_and_weights_are_mapped_as_package_data():
    tool = pyproject()["tool"]["setuptools"]
    assert tool["package-dir"] == {"livehdr._shaders": "shaders", "livehdr._weights": "models"}
    data = tool["package-data"]
    shipped = [f for f in os.listdir(os.path.join(ROOT, "shaders"))]
    assert shipped and all(any(re.fullmatch(p.replace("*", ".*"), f) for p in data["livehdr._shaders"])
                           for f in shipped)
    assert "*.safetensors" in data["livehdr._weights"] and "*.json" in data["livehdr._weights"]


def test_dependencies_match_requirements_txt():
    def names(lines):
        return {re.split(r"[<>=!~ ]", line.strip(), maxsplit=1)[0].lower(): line.strip().replace(" ", "")
                for line in lines if line.strip() and not line.lstrip().startswith(("#", "-"))}

    with open(os.path.join(ROOT, "requirements.txt")) as f:
        req = names(f)
    assert names(pyproject()["project"]["dependencies"]) == req
    assert pyproject()["project"]["scripts"]["livehdr"] == "livehdr.cli:main"


def test_resources_are_found_from_a_checkout():
    from livehdr.base.resources import resource_dir

    assert os.path.isfile(os.path.join(resource_dir("shaders"), "present.frag"))
    assert os.path.isdir(resource_dir("models"))
