"""The documentation's links into other libraries' sites.

The site's build reaches no documentation site, so ``docs/conf.py`` resolves
references to scikit-learn, NumPy, SciPy, Dask, joblib and ONNX by their
URL patterns instead of intersphinx.  These tests check those patterns
directly, and in a one-page Sphinx build that the references become links
there, that scikit-learn's ``MLPClassifier`` links to scikit-learn and not to
fastnn's page, and that a broken reference to fastnn's API still fails in
nitpicky mode.  They need the ``docs`` extra (Sphinx and numpydoc, which the
configuration imports), not a built site.
"""

import importlib.util
import io
import re
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
NUMPY = "https://numpy.org/doc/stable/reference/"
SKLEARN_MLP = (
    "https://scikit-learn.org/stable/modules/generated/"
    "sklearn.neural_network.MLPClassifier.html"
)


@pytest.fixture(scope="module")
def conf():
    pytest.importorskip("sphinx")
    pytest.importorskip("numpydoc")
    spec = importlib.util.spec_from_file_location("fastnn_docs_conf", DOCS / "conf.py")
    module = importlib.util.module_from_spec(spec)
    path = list(sys.path)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = path  # the configuration puts docs/ on it, for the gallery
    return module


@pytest.mark.parametrize(
    "target, url",
    [
        ("numpy.ndarray", f"{NUMPY}generated/numpy.ndarray.html"),
        ("numpy.asarray", f"{NUMPY}generated/numpy.asarray.html"),
        ("numpy.ndarray.astype", f"{NUMPY}generated/numpy.ndarray.astype.html"),
        ("numpy.linalg.norm", f"{NUMPY}generated/numpy.linalg.norm.html"),
        (
            "numpy.random.RandomState",
            f"{NUMPY}random/legacy.html#numpy.random.RandomState",
        ),
    ],
)
def test_numpy_names_link_to_their_numpy_pages(conf, target, url):
    assert conf._external_url("py", "class", target) == url


@pytest.mark.parametrize(
    "target",
    [
        "numpy.float32",  # the scalar types share a page
        "numpy.pi",  # so do the constants
        "numpy.random.rand",  # numpy.random's pages follow another pattern
        "numpy.ndaray",  # not in NumPy: no dead link
        "fastnn.MLPClassifier",  # fastnn's own names are Sphinx's to resolve
    ],
)
def test_names_without_a_known_page_stay_unresolved(conf, target):
    assert conf._external_url("py", "obj", target) is None


@pytest.mark.parametrize(
    "target, url",
    [
        (
            "scipy.sparse.csr_matrix",
            "https://docs.scipy.org/doc/scipy/reference/generated/"
            "scipy.sparse.csr_matrix.html",
        ),
        ("scipy.sparse", "https://docs.scipy.org/doc/scipy/reference/sparse.html"),
        (
            "dask.array.Array",
            "https://docs.dask.org/en/stable/generated/dask.array.Array.html",
        ),
        (
            "dask.distributed.Client",
            "https://distributed.dask.org/en/stable/api.html#distributed.Client",
        ),
        (
            "joblib.dump",
            "https://joblib.readthedocs.io/en/stable/generated/joblib.dump.html",
        ),
        ("onnx.ModelProto", "https://onnx.ai/onnx/api/classes.html#onnx.ModelProto"),
        (
            "onnxruntime.InferenceSession",
            "https://onnxruntime.ai/docs/api/python/api_summary.html"
            "#onnxruntime.InferenceSession",
        ),
    ],
)
def test_other_libraries_names_link_by_their_url_patterns(conf, target, url):
    # The names are looked up in the installed libraries (the test extra
    # installs them all).
    pytest.importorskip(target.split(".")[0])
    assert conf._external_url("py", "obj", target) == url


def test_sklearn_names_link_to_scikit_learn(conf):
    target = "sklearn.neural_network.MLPClassifier"
    assert conf._external_url("py", "class", target) == SKLEARN_MLP


INDEX = """\
Links
=====

.. py:module:: fastnn

.. py:class:: MLPClassifier

   fastnn's classifier.

- :class:`numpy.ndarray`
- :class:`sklearn.neural_network.MLPClassifier`
- :class:`~sklearn.neural_network.MLPClassifier`
- :class:`fastnn.MLPClassifier`
- :class:`numpy.NotInNumPy`
- :class:`fastnn.NotInFastnn`
"""


def test_a_build_links_libraries_and_fails_on_a_broken_fastnn_reference(conf, tmp_path):
    # The references are made where fastnn's API pages make theirs: in the
    # fastnn module, beside a fastnn.MLPClassifier that Sphinx knows.
    from sphinx.application import Sphinx

    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "conf.py").write_text(
        'extensions = ["sphinx.ext.autodoc"]\n'
        "nitpicky = True\n"
        f"nitpick_ignore_regex = {conf.nitpick_ignore_regex!r}\n"
    )
    (src / "index.rst").write_text(INDEX)
    warnings = io.StringIO()
    app = Sphinx(
        src, src, out, out / ".doctrees", "html", status=None, warning=warnings
    )
    conf.setup(app)
    app.build()

    html = (out / "index.html").read_text(encoding="utf-8")
    links = re.findall(r'<a class="reference (?:in|ex)ternal" href="([^"]*)"', html)
    assert links == [
        f"{NUMPY}generated/numpy.ndarray.html",
        SKLEARN_MLP,
        SKLEARN_MLP,
        "#fastnn.MLPClassifier",
    ]
    # The name NumPy lacks stays text, silently; fastnn's broken one fails.
    reported = [line for line in warnings.getvalue().splitlines() if line.strip()]
    assert len(reported) == 1, reported
    assert "py:class reference target not found: fastnn.NotInFastnn" in reported[0]
