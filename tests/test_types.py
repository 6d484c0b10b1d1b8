"""Types: `mypy --strict` over lanes/, dsl/, compiler/ and runtime/, with the
configuration of pyproject.toml ([tool.mypy]).

The code imports `lanes.dsl.x`, `lanes.compiler.x`, `lanes.runtime.x`, which setuptools
maps to the folders dsl/, compiler/, runtime/ ([tool.setuptools.package-dir]); the
editable install resolves them with an import hook that mypy cannot follow, and mypy has
no option that renames a folder. So this file hands mypy's build every file of the four
packages under its module name, read from that table: mypy checks the real files and
names them in its messages (`dsl/ast.py:12: error: ...`), with no copy and no link tree.

It is also the command that runs the check:

    python3 tests/test_types.py [DIR ...] [--cache-dir DIR]

prints mypy's messages about the files in DIR (dsl, compiler, runtime, lanes; all four
by default: each is always checked against the others) and exits 1 when there are errors.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path
import subprocess
import sys

try:
    import tomllib
except ModuleNotFoundError:        # Python 3.10: mypy itself depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("lanes", "lanes.dsl", "lanes.compiler", "lanes.runtime")


def package_folders() -> dict[str, Path]:
    """Package name -> its folder, as setuptools installs them."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        package_dir = tomllib.load(f)["tool"]["setuptools"]["package-dir"]
    return {name: ROOT / package_dir[name] for name in PACKAGES}


def modules() -> list[tuple[Path, str]]:
    """Every file of the checked packages and the module name it is imported by."""
    out = []
    for package, folder in package_folders().items():
        for path in sorted(folder.glob("*.py")):
            out.append((path, package if path.stem == "__init__" else f"{package}.{path.stem}"))
    return out


def run_mypy(cache_dir: str | None = None) -> tuple[list[str], int]:
    """mypy's messages (one line each) and the number of files it checked.

    mypy.build is not the API that mypy keeps stable (mypy.api is, but it takes only
    command-line arguments, and those name files or modules found on a search path, not
    a file under another module's name): the dev extra pins mypy's version."""
    from mypy import build
    from mypy.errors import CompileError
    from mypy.main import process_options
    from mypy.modulefinder import BuildSource

    checked = modules()
    sources = [BuildSource(str(path), module, None) for path, module in checked]
    # the options exactly as the `mypy` command takes them: pyproject.toml's [tool.mypy];
    # the paths given here only satisfy the parser, the sources above replace them
    flags = ["--config-file", str(ROOT / "pyproject.toml")]
    if cache_dir is not None:
        flags += ["--cache-dir", cache_dir]
    _, options = process_options([*flags, *(str(path) for path, _ in checked)])
    try:
        messages = build.build(sources, options).errors
    except CompileError as exc:        # a syntax error stops mypy before it checks anything
        messages = exc.messages
    return messages, len(sources)


def report(messages: list[str], folders: list[Path] | None = None) -> list[str]:
    """The messages about files in `folders` (all when None), as mypy prints them."""
    if folders is not None:
        # mypy names a file relative to where it runs when it is below, else in full
        inside = tuple(p + os.sep for f in folders for p in (os.path.relpath(f), str(f)))
        messages = [m for m in messages if m.startswith(inside)]
    return messages


def summary(messages: list[str], checked: int) -> str:
    errors = [m for m in messages if ": error:" in m]
    if not errors:
        return f"Success: no issues found in {checked} source files"
    files = {m.split(":", 1)[0] for m in errors}
    n, f = len(errors), len(files)
    return f"Found {n} error{'s' if n > 1 else ''} in {f} file{'s' if f > 1 else ''} (checked {checked} source files)"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tests/test_types.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", metavar="DIR", help="dsl, compiler, runtime or lanes")
    parser.add_argument("--cache-dir", help="mypy's cache (default: .mypy_cache where it runs)")
    args = parser.parse_args(argv)
    known = {folder.name: folder for folder in package_folders().values()}
    unknown = [f for f in args.folders if Path(f).name not in known]
    if unknown:
        parser.error(f"not a checked package folder: {', '.join(unknown)} (one of {', '.join(known)})")
    messages, checked = run_mypy(args.cache_dir)
    shown = report(messages, [known[Path(f).name] for f in args.folders] if args.folders else None)
    for line in shown:
        print(line)
    print(summary(shown, checked))
    return 1 if any(": error:" in m for m in shown) else 0


def test_each_file_is_checked_under_the_name_it_is_imported_by():
    checked = modules()
    assert {module for _, module in checked} >= {*PACKAGES, "lanes.dsl.ast", "lanes.cli"}
    for path, module in checked:
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin is not None and Path(spec.origin).resolve() == path, module


def test_the_four_packages_are_strictly_typed(tmp_path, request):
    # a cache that outlives the run where pytest keeps one (its own folder, not mypy's
    # .mypy_cache that `lanes run examples/quality.yaml` writes at the same time)
    pytest_cache = getattr(request.config, "cache", None)      # None under -p no:cacheprovider
    cache = tmp_path if pytest_cache is None else pytest_cache.mkdir("mypy")
    done = subprocess.run([sys.executable, __file__, "--cache-dir", str(cache)], cwd=ROOT, check=False,
                          capture_output=True, text=True, timeout=600)
    lines = done.stdout.splitlines()
    errors = [line for line in lines if ": error:" in line]
    assert done.returncode == 0 and not errors, "\n".join(lines) + done.stderr


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
