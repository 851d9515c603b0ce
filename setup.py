"""Build script for fastnn's Cython/C extensions.

Every ``.pyx`` under ``fastnn/`` is an extension, built with the same flags.  The
``.pyx`` files are the one source: the C that Cython generates from them is
build output, never shipped in the sdist (see ``MANIFEST.in``), so a build
needs Cython, as ``pyproject.toml``'s build requirements say.  Cython and
NumPy are imported only when the extensions are built, so making an sdist
needs setuptools alone.

OpenMP is found by building a small shared object with the flags of each
compiler scikit-learn's wheels are built with: GCC and Clang ``-fopenmp``,
Apple Clang with libomp ``-Xpreprocessor -fopenmp -lomp``, MSVC ``/openmp``.
Without any of them, or with ``FASTNN_NO_OPENMP=1`` in the environment, the
extensions are built serially, with a warning; ``fastnn.show_config()`` then
reports ``openmp: False``, and results are the same bits as with OpenMP.
"""

import glob
import os
import shutil
import sys
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

OPENMP_TEST = r"""
#ifndef _OPENMP
#error "the flags did not enable OpenMP"
#endif
#include <omp.h>
int fastnn_openmp_probe(void) { return omp_get_max_threads(); }
"""

# Homebrew's libomp is keg-only: Apple Clang finds it only when told where.
LIBOMP_PREFIXES = ("/opt/homebrew/opt/libomp", "/usr/local/opt/libomp")


def _openmp_candidates(compiler) -> list[tuple[list[str], list[str]]]:
    """(compile, link) flag pairs that may enable OpenMP, most likely first."""
    if compiler.compiler_type == "msvc":
        return [(["/openmp"], [])]
    candidates = [(["-fopenmp"], ["-fopenmp"])]
    if sys.platform == "darwin":
        # Apple Clang: libomp's headers and library from CPPFLAGS/LDFLAGS,
        # else from Homebrew.
        candidates.append((["-Xpreprocessor", "-fopenmp"], ["-lomp"]))
        for prefix in LIBOMP_PREFIXES:
            if os.path.isdir(prefix):
                candidates.append(
                    (
                        ["-Xpreprocessor", "-fopenmp", f"-I{prefix}/include"],
                        ["-lomp", f"-L{prefix}/lib", f"-Wl,-rpath,{prefix}/lib"],
                    )
                )
    return candidates


def _openmp_flags(compiler):
    """Return (compile, link) flags that enable OpenMP, or None."""
    tmp = tempfile.mkdtemp()
    try:
        src = os.path.join(tmp, "omp_test.c")
        with open(src, "w") as f:
            f.write(OPENMP_TEST)
        for cflags, ldflags in _openmp_candidates(compiler):
            try:
                objs = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
                # A shared object, like the extensions: an executable would
                # also fail for reasons unrelated to OpenMP (a sanitizer in
                # CFLAGS without its runtime, for one).
                compiler.link_shared_object(
                    objs,
                    os.path.join(tmp, "omp_test.so"),
                    extra_postargs=ldflags,
                )
            except Exception:
                continue
            return cflags, ldflags
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return None


def _warn_serial(reason: str) -> None:
    print(
        f"\nWARNING: fastnn is being built WITHOUT OpenMP ({reason}): fit and "
        "predict will run on one thread.\n",
        file=sys.stderr,
    )


def _build_jobs() -> int | None:
    """Extensions to build at once: ``FASTNN_BUILD_JOBS``, else one at a time.

    pip passes no ``-j`` to ``build_ext``; CI sets the variable to use both
    of its cores for the wheel.
    """
    jobs = os.environ.get("FASTNN_BUILD_JOBS")
    return int(jobs) if jobs else None


class BuildExtWithOpenMP(build_ext):
    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:
            self.parallel = _build_jobs()

    def build_extensions(self):
        import numpy
        from Cython.Build import cythonize

        # Cythonize here rather than at import, so that an sdist carries the
        # .pyx files as the extensions' sources and never generated C.
        generated = {
            ext.name: ext
            for ext in cythonize(
                self.extensions,
                compiler_directives={"language_level": 3},
                nthreads=self.parallel or 0,
            )
        }
        if os.environ.get("FASTNN_NO_OPENMP") == "1":
            flags = None
            _warn_serial("FASTNN_NO_OPENMP=1")
        else:
            flags = _openmp_flags(self.compiler)
            if flags is None:
                _warn_serial("the compiler does not support it")
        optimise = (
            ["/O2"]
            if self.compiler.compiler_type == "msvc"
            # errno is never read; without it sqrt vectorises.  No FMA
            # contraction: results must not depend on the instruction set.
            else ["-O3", "-fno-math-errno", "-ffp-contract=off"]
        )
        for ext in self.extensions:
            ext.sources = generated[ext.name].sources
            ext.include_dirs.append(numpy.get_include())
            ext.extra_compile_args = optimise + (flags[0] if flags else [])
            ext.extra_link_args = flags[1] if flags else []
        super().build_extensions()


def _extension(path: str) -> Extension:
    name = os.path.splitext(path)[0].replace("/", ".").replace("\\", ".")
    return Extension(
        name,
        [path],
        include_dirs=["csrc"],
        depends=sorted(
            glob.glob("csrc/*.h") + glob.glob("fastnn/**/*.pxd", recursive=True)
        ),
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
    )


setup(
    ext_modules=[
        _extension(p) for p in sorted(glob.glob("fastnn/**/*.pyx", recursive=True))
    ],
    cmdclass={"build_ext": BuildExtWithOpenMP},
)
