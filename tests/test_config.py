"""Build configuration: OpenMP present, config report complete."""

import io
import os

from fastnn._engine._threads import effective_n_threads, openmp_enabled

import fastnn


def test_build_has_openmp():
    # A build that silently lost OpenMP would be serial; fail loudly unless
    # the environment says such a build is intended.
    if os.environ.get("FASTNN_ALLOW_NO_OPENMP") == "1":
        return
    assert openmp_enabled(), "fastnn was compiled without OpenMP"


def test_show_config_reports_versions_and_threads():
    out = io.StringIO()
    config = fastnn.show_config(file=out)
    for key in (
        "numpy",
        "scipy",
        "scikit-learn",
        "cython",
        "openmp",
        "n_threads",
        "products",
        "blas",
    ):
        assert key in config
        assert key in out.getvalue()
    assert config["n_threads"] == effective_n_threads() >= 1
    assert any(lib["internal_api"] for lib in config["blas"])


def test_show_config_reports_what_training_products_run_on():
    from fastnn import _engine
    from fastnn._engine import _kernels

    start = fastnn.show_config(file=io.StringIO())["products"]
    # The tuned kernel where the CPU has one, BLAS elsewhere.
    best = _kernels.BEST_GEMM_LEVEL
    assert start == (best if best != "portable" else "blas")
    previous = _engine._set_products("blas")
    try:
        out = io.StringIO()
        assert fastnn.show_config(file=out)["products"] == "blas"
        assert "products: blas" in out.getvalue()
    finally:
        _engine._set_products(previous)
    assert fastnn.show_config(file=io.StringIO())["products"] == start


def test_parallel_threshold_is_one_name_for_multiply_adds():
    from fastnn import _engine, _threads

    # The one threshold of products, counted in multiply-adds (m * n * k).
    assert _threads.PARALLEL_MIN_MACS is _engine.PARALLEL_MIN_MACS
    assert not hasattr(_engine, "PARALLEL_MIN_PRODUCT")
    assert not hasattr(_engine, "GEMM_BLOCK_COUNT")
