"""Build script for fastnn's Cython/C extensions.

OpenMP is detected by compiling a small test program; without it the
extensions are built serially (and ``fastnn.show_config()`` says so).
"""

import os
import shutil
import tempfile

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

OPENMP_TEST = r"""
#include <omp.h>
int fastnn_openmp_probe(void) { return omp_get_max_threads(); }
"""


def _openmp_flags(compiler):
    """Return (compile, link) flags that enable OpenMP, or None."""
    candidates = [(["-fopenmp"], ["-fopenmp"]), (["/openmp"], [])]
    tmp = tempfile.mkdtemp()
    try:
        src = os.path.join(tmp, "omp_test.c")
        with open(src, "w") as f:
            f.write(OPENMP_TEST)
        for cflags, ldflags in candidates:
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


class BuildExtWithOpenMP(build_ext):
    def build_extensions(self):
        flags = _openmp_flags(self.compiler)
        if flags is None:
            print("fastnn: the compiler does not support OpenMP; building serially")
        optimise = (
            ["/O2"]
            if self.compiler.compiler_type == "msvc"
            # errno is never read; without it sqrt vectorises.  No FMA
            # contraction: results must not depend on the instruction set.
            else ["-O3", "-fno-math-errno", "-ffp-contract=off"]
        )
        for ext in self.extensions:
            ext.extra_compile_args = optimise + (flags[0] if flags else [])
            ext.extra_link_args = flags[1] if flags else []
        super().build_extensions()


# The engine, one extension per module (see fastnn/_engine/__init__.py).
ENGINE_MODULES = ["_kernels", "_input", "_layers", "_batch", "_trainer", "_predict"]


def _extension(name):
    return Extension(
        f"fastnn.{name.replace('/', '.')}",
        [f"fastnn/{name}.pyx"],
        include_dirs=["csrc", numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
    )


setup(
    ext_modules=cythonize(
        [_extension(f"_engine/{m}") for m in ENGINE_MODULES] + [_extension("_openmp")],
        compiler_directives={"language_level": 3},
    ),
    cmdclass={"build_ext": BuildExtWithOpenMP},
)
