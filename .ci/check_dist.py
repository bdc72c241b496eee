"""Check every built wheel and sdist in a folder as an index would serve them.

For each member of ``packages/``: the wheel and the sdist exist; the metadata names the package, its version,
``License-Expression: Apache-2.0``, the license files, the project URLs, the Python requirement and a Markdown
description, and no dependency points at a local path; the wheel holds LICENSE and NOTICE (identical to the
repository's), every file of the package's source tree (``py.typed``, model configs, prompt templates, presets),
and its console scripts; the sdist holds pyproject.toml, README.md, LICENSE, NOTICE and the source tree.

Usage: python .ci/check_dist.py dist
"""

from __future__ import annotations

import sys
import tarfile
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
URLS = {"Homepage", "Documentation", "Repository", "Issues", "Changelog"}
LICENSE_FILES = ("LICENSE", "NOTICE")


def source_files(member: Path) -> dict[str, bytes]:
    """``import_name/relative/path`` → bytes of every file under ``src/`` (caches left out)."""
    src = member / "src"
    return {
        path.relative_to(src).as_posix(): path.read_bytes()
        for path in sorted(src.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def check_member(member: Path, dist: Path) -> list[str]:
    project = tomllib.loads((member / "pyproject.toml").read_text())["project"]
    name, version = project["name"], project["version"]
    stem = f"{name.replace('-', '_')}-{version}"
    wheel_path, sdist_path = dist / f"{stem}-py3-none-any.whl", dist / f"{stem}.tar.gz"
    problems = [f"{p.name}: missing" for p in (wheel_path, sdist_path) if not p.is_file()]
    if problems:
        return problems
    sources = source_files(member)
    with zipfile.ZipFile(wheel_path) as wheel:
        files = {n: wheel.read(n) for n in wheel.namelist() if not n.endswith("/")}
    info = f"{stem}.dist-info"
    meta = Parser().parsestr(files[f"{info}/METADATA"].decode())
    where = wheel_path.name
    expected = {"Name": name, "Version": version, "License-Expression": "Apache-2.0"}
    problems += [f"{where}: {k} is {meta.get(k)!r}, not {v!r}" for k, v in expected.items() if meta.get(k) != v]
    if sorted(meta.get_all("License-File") or []) != sorted(LICENSE_FILES):
        problems.append(f"{where}: License-File lists {meta.get_all('License-File')}, not {list(LICENSE_FILES)}")
    urls = {entry.split(",")[0].strip() for entry in meta.get_all("Project-URL") or []}
    problems += [f"{where}: no Project-URL {label}" for label in sorted(URLS - urls)]
    if not meta.get("Requires-Python") or meta.get("Description-Content-Type") != "text/markdown":
        problems.append(f"{where}: Requires-Python or the Markdown description is missing")
    requirements = meta.get_all("Requires-Dist") or []
    problems += [f"{where}: a dependency points at a path: {r}" for r in requirements if "@" in r]
    for license_file in LICENSE_FILES:
        shipped = files.get(f"{info}/licenses/{license_file}")
        if shipped != (ROOT / license_file).read_bytes():
            problems.append(f"{where}: {license_file} is missing or differs from the repository's")
    problems += [f"{where}: lacks {path}" for path, data in sources.items() if files.get(path) != data]
    import_name = name.replace("-", "_")
    if f"{import_name}/py.typed" not in files:
        problems.append(f"{where}: lacks {import_name}/py.typed")
    entry_points = files.get(f"{info}/entry_points.txt", b"").decode()
    problems += [f"{where}: no console script {s}" for s in project.get("scripts", {}) if f"{s} =" not in entry_points]
    with tarfile.open(sdist_path) as sdist:
        names = set(sdist.getnames())
    needed = ["pyproject.toml", "README.md", *LICENSE_FILES, *(f"src/{path}" for path in sources)]
    problems += [f"{sdist_path.name}: lacks {path}" for path in needed if f"{stem}/{path}" not in names]
    return problems


def main(argv: list[str]) -> int:
    dist = Path(argv[0] if argv else "dist")
    members = sorted(p for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").is_file())
    problems = [problem for member in members for problem in check_member(member, dist)]
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not problems:
        print(f"{2 * len(members)} distributions checked: metadata, license files, package data, scripts")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
