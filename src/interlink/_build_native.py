"""Compile the modules of :mod:`interlink._native` with mypyc, in place.

    python -m interlink._build_native [--force] [--status]

Nothing happens when the last build matches the sources (the Makefile runs this every time).
A build takes minutes on a small machine, so each stage prints a line as it starts.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable

from interlink._native import (
    GROUP,
    MANIFEST,
    MODULES,
    PACKAGE_DIR,
    digest,
    extensions,
    recorded,
    source,
    stale,
    status,
)


def _say(line: str) -> None:
    print(line, flush=True)


def remove_build(record: dict[str, str]) -> None:
    """Delete the compiled modules, of :data:`MODULES` and of those an earlier list had."""
    for module in {*MODULES, *record}:
        for path in extensions(module):
            path.unlink()
    for path in PACKAGE_DIR.parent.glob(f"{GROUP}__mypyc*"):
        path.unlink()


def build(force: bool = False, say: Callable[[str], None] = _say) -> str:
    """Compile :data:`MODULES` in place, telling ``say`` each stage; a line saying what was
    done."""
    record = recorded()
    if not force and not stale(record) and all(extensions(m) for m in MODULES):
        return "compiled modules are up to date"
    say(f"==> compiling the gateway's request path with mypyc ({len(MODULES)} modules)")
    from mypyc.build import mypycify
    from setuptools import Distribution  # type: ignore[import-untyped]

    root = PACKAGE_DIR.parent
    remove_build(record)
    digests = {module: digest(source(module)) for module in MODULES}
    paths = [str(source(m).relative_to(root)) for m in MODULES]
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="interlink-native-") as temp:
        os.chdir(root)  # module names follow from paths relative to the source root
        os.environ["MYPY_CACHE_DIR"] = os.path.join(temp, "mypy")  # not in the source tree
        try:
            say("==> mypyc: type-checking and translating to C (the longest stage)")
            ext_modules = mypycify(
                paths, opt_level="3", target_dir=temp, group_name=GROUP, multi_file=True
            )
            dist = Distribution({"name": GROUP, "ext_modules": ext_modules})
            command = dist.get_command_obj("build_ext")
            command.inplace = True
            command.build_temp = temp
            command.build_lib = temp  # inplace copies from here; nothing is left in src
            command.parallel = os.cpu_count() or 1
            command.ensure_finalized()
            say(f"==> compiling the C extension ({command.parallel} parallel jobs)")
            command.run()
        finally:
            os.chdir(cwd)
    MANIFEST.write_text(json.dumps({"group": GROUP, "modules": digests}, indent=2) + "\n")
    return f"compiled {len(MODULES)} modules with mypyc"


def main(argv: list[str]) -> int:
    if "--status" in argv:
        print(status()[1])
        return 0
    print(build(force="--force" in argv), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
