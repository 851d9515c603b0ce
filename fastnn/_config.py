"""Build and runtime configuration report."""

from __future__ import annotations

import sys

from ._engine._threads import cython_version
from ._threads import engine_n_threads, openmp_enabled


def show_config(file=None) -> dict:
    """Print and return how fastnn was built and how it will run.

    Parameters
    ----------
    file : file-like, default=None
        Where to print; ``sys.stdout`` when None.

    Returns
    -------
    config : dict
        Versions of fastnn, Python, NumPy, SciPy, scikit-learn and of the
        Cython that built the extension (recorded in it at build time; pip
        builds with a Cython of its own, so none need be installed), whether
        OpenMP is compiled in, the number of threads a fit would use (one in
        a child forked after a multi-threaded fit), what training's dense
        products run on (``"avx512"``, ``"avx2"``: fastnn's own kernels;
        ``"blas"``), and the BLAS libraries threadpoolctl sees.

    Examples
    --------
    >>> import io
    >>> import fastnn
    >>> config = fastnn.show_config(file=io.StringIO())
    >>> sorted(config)[:3]
    ['blas', 'cython', 'fastnn']
    """
    import numpy
    import scipy
    import sklearn
    from threadpoolctl import threadpool_info

    from . import __version__, _engine

    # BLAS is loaded lazily: the engine's import above pulls in SciPy's.
    blas = [
        {k: info.get(k) for k in ("internal_api", "version", "num_threads", "filepath")}
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    ]
    config = {
        "fastnn": __version__,
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "cython": cython_version(),
        "openmp": openmp_enabled(),
        "n_threads": engine_n_threads(),
        "products": _engine.products(),
        "blas": blas,
    }
    out = file if file is not None else sys.stdout
    for key, value in config.items():
        if key != "blas":
            print(f"{key:>13}: {value}", file=out)
    for info in blas:
        print(
            f"{'blas':>13}: {info['internal_api']} {info['version']} "
            f"({info['num_threads']} threads) {info['filepath']}",
            file=out,
        )
    return config
