"""The compiled request path: used only when built from the sources as they are."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from interlink import _native
from interlink._native import MODULES, digest, extensions, recorded, source, stale


def file_of(module: str, **env: str) -> str:
    """Where ``module`` is imported from in a fresh interpreter."""
    code = f"import {module} as m; print(m.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_every_listed_module_has_a_source() -> None:
    for module in MODULES:
        assert source(module).is_file(), module


def test_a_build_is_stale_when_a_source_differs_or_the_list_changed() -> None:
    current = {module: digest(source(module)) for module in MODULES}
    assert stale(current) == []
    edited = {**current, MODULES[3]: "0" * 64}
    assert stale(edited) == [MODULES[3]]
    assert stale({**current, "interlink.gateway.gone": "0" * 64}) == ["interlink.gateway.gone"]
    missing = dict(current)
    del missing[MODULES[0]]
    assert stale(missing) == [MODULES[0]]
    assert stale({}) == list(MODULES)


def test_the_environment_switch_imports_every_module_from_source() -> None:
    for module in ("interlink.gateway.protocol", "interlink.http.connection"):
        assert file_of(module, INTERLINK_PURE_PYTHON="1").endswith(".py")


def require_build() -> None:
    """Skip unless the compiled modules match the sources, as `make test` leaves them."""
    if not all(extensions(m) for m in MODULES):
        pytest.skip("the request path is not compiled here (`make native` compiles it)")
    if stale(recorded()):
        pytest.skip("sources changed since the build (`make native` rebuilds)")


def test_the_built_modules_are_the_ones_imported() -> None:
    require_build()
    compiled, line = _native.status()
    assert compiled, line
    assert set(recorded()) == set(MODULES)
    for module in ("interlink.gateway.protocol", "interlink.gateway.plans"):
        assert not file_of(module).endswith(".py"), module


def test_an_edited_module_turns_the_whole_build_off(tmp_path: Path) -> None:
    require_build()
    root = source("interlink.errors").parent.parent  # the directory holding the package
    copy = tmp_path / "src"
    shutil.copytree(
        root / "interlink", copy / "interlink", ignore=shutil.ignore_patterns("__pycache__")
    )
    for lib in root.glob(f"{_native.GROUP}__mypyc*"):
        shutil.copy2(lib, copy)
    env = {"PYTHONPATH": str(copy)}
    assert not file_of("interlink.gateway.proxy", **env).endswith(".py")  # the copy as built
    edited = copy / "interlink" / "gateway" / "paths.py"
    edited.write_text(edited.read_text() + "\n# edited\n")
    # Not only the edited module: all of them, since compiled ones call each other directly.
    for module in ("interlink.gateway.paths", "interlink.gateway.proxy", "interlink.http.pool"):
        assert file_of(module, **env) == str(copy.joinpath(*module.split(".")).with_suffix(".py"))


def test_a_build_says_each_stage_before_it_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The build takes minutes: a line before each stage, never minutes of silence."""
    import mypyc.build

    from interlink import _build_native

    said: list[str] = []

    class Stop(Exception):
        pass

    def translate(*args: object, **kwargs: object) -> None:
        said.append("(translating)")
        raise Stop

    # A stale build, with nothing on disk to clean up, stopped where mypyc would start working.
    monkeypatch.setattr(_build_native, "stale", lambda record: True)
    monkeypatch.setattr(_build_native, "remove_build", lambda record: None)
    monkeypatch.setattr(mypyc.build, "mypycify", translate)
    monkeypatch.setenv("MYPY_CACHE_DIR", "unused")
    with pytest.raises(Stop):
        _build_native.build(say=said.append)
    assert said == [
        f"==> compiling the gateway's request path with mypyc ({len(MODULES)} modules)",
        "==> mypyc: type-checking and translating to C (the longest stage)",
        "(translating)",
    ]
