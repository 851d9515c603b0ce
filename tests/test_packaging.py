"""Packaging: the sdist builds and works away from the source tree.

``test_sdist_builds_serially_...`` is the slow one (marked ``packaging``,
about a minute, most of it compiling): it makes the sdist with ``python -m
build``, installs it with OpenMP switched off into a new virtual environment
outside the source tree, and runs the sdist's own parity, gradient and skops
tests there, plus workloads whose bits must equal this (OpenMP) build's.  A
header, ``.pyx`` or test file missing from the sdist fails it, and so does a
serial fallback that is broken or computes different numbers.

It runs offline: the new environment sees this one's packages through a
``.pth`` file (like ``--system-site-packages``, which would give the base
interpreter's instead of this virtual environment's) and builds with them, without
build isolation.  That the build requirements in ``pyproject.toml`` are
complete is shown by ``.ci/run``, whose ``pip install`` builds in isolation.
"""

import json
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import pytest
from _fingerprint import fingerprints

ROOT = Path(__file__).resolve().parent.parent


def _run(args, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, (
        f"{' '.join(map(str, args))} failed:\n{result.stdout[-4000:]}\n"
        f"{result.stderr[-4000:]}"
    )
    return result


def _pyx_sources():
    return sorted((ROOT / "fastnn").rglob("*.pyx"))


def _prange_index_types(text: str) -> list[tuple[str, str | None]]:
    """(index, C type) of every prange loop in a .pyx file's text.

    The type is that of the last ``cdef`` declaring the index before the loop
    (Cython requires one, in the same function); None when there is none.
    """
    declared: dict[str, str] = {}
    position = 0
    found = []
    for loop in re.finditer(r"for\s+(\w+)\s+in\s+prange\(", text):
        for line in re.findall(
            r"^\s*cdef\s+(.*)$", text[position : loop.start()], re.M
        ):
            # `cdef <type> a = f(x, y), b`: drop calls, then split the names.
            while re.search(r"\([^()]*\)", line):
                line = re.sub(r"\([^()]*\)", "", line)
            first, *others = (part.split("=")[0].strip() for part in line.split(","))
            *ctype, name = first.replace("*", " ").split() or [""]
            for variable in [name, *others]:
                declared[variable.strip("* ")] = " ".join(ctype)
        position = loop.start()
        found.append((loop.group(1), declared.get(loop.group(1))))
    return found


def test_every_prange_index_is_a_signed_c_integer():
    # MSVC implements OpenMP 2.0, whose parallel loops take signed indices
    # only.
    signed = {"int", "long", "long long", "Py_ssize_t", "ssize_t", "ptrdiff_t"}
    loops = {
        (path.name, name): ctype
        for path in _pyx_sources()
        for name, ctype in _prange_index_types(path.read_text(encoding="utf-8"))
    }
    assert loops and {(k, v) for k, v in loops.items() if v not in signed} == set()
    # The check itself tells the two apart.
    assert _prange_index_types(
        "cdef unsigned int i\ncdef Py_ssize_t j, n = 3\n"
        "for i in prange(n):\n    for j in prange(n):"
    ) == [("i", "unsigned int"), ("j", "Py_ssize_t")]


@pytest.mark.packaging
def test_sdist_builds_serially_outside_the_tree_with_identical_results(tmp_path):
    pytest.importorskip("build")
    dist = tmp_path / "dist"
    _run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation"]
        + ["--outdir", str(dist), str(ROOT)],
        timeout=300,
    )
    (sdist,) = dist.glob("fastnn_mlp-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
        tar.extractall(tmp_path / "unpacked", filter="data")
    assert not [n for n in names if n.endswith((".c", ".so", ".pyd"))], names
    for source in _pyx_sources() + sorted((ROOT / "fastnn").rglob("*.pxd")):
        relative = source.relative_to(ROOT).as_posix()
        assert any(n.endswith(f"/{relative}") for n in names), relative

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], timeout=120)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = _run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
    ).stdout.strip()
    # This environment's packages (pip, build tools, NumPy, scikit-learn,
    # pytest...) come after the new one's own, so its fastnn wins.
    paths = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    Path(site, "parent_environment.pth").write_text("\n".join(sorted(paths)) + "\n")

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["FASTNN_NO_OPENMP"] = "1"
    install = _run(
        [python, "-m", "pip", "install", "--no-build-isolation", "--no-index"]
        + ["--no-deps", "--ignore-installed", "--no-cache-dir", str(sdist)],
        env=env,
        cwd=tmp_path,
        timeout=1200,
    )

    report = json.loads(
        _run(
            [python, str(ROOT / "tests" / "_fingerprint.py")],
            env=env,
            cwd=tmp_path,
            timeout=600,
        ).stdout
    )
    assert Path(report["file"]).is_relative_to(venv), (report, install.stdout)
    assert report["openmp"] is False and report["n_threads"] == 1
    assert report["fingerprints"] == fingerprints()

    # The sdist's own tests, against the serial build.
    tests = next((tmp_path / "unpacked").glob("fastnn_mlp-*")) / "tests"
    env["FASTNN_ALLOW_NO_OPENMP"] = "1"
    _run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        + [str(tests / f) for f in ("test_config.py", "test_parity.py")]
        + [str(tests / f) for f in ("test_gradients.py", "test_skops.py")],
        env=env,
        cwd=tmp_path,
        timeout=1200,
    )
