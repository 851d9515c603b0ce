"""Sphinx configuration of fastnn's documentation.

Build (warnings are errors, every cross-reference checked):

    python -m sphinx -W -n -b html docs docs/_build/html

The gallery runs every script in ``examples/``; a broken example fails the
build.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from pathlib import Path

from numpydoc.xref import DEFAULT_LINKS
from sphinx.errors import ExtensionError

import fastnn

sys.path.insert(0, str(Path(__file__).parent))  # gallery_order

project = "fastnn"
author = "the fastnn developers"
copyright = f"2026, {author}"
release = fastnn.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    # Markdown for the user guide, so that its pages keep the README's
    # wording and sections move between the two by copy and paste.
    "myst_parser",
    # A copy button on every code block; prompts and outputs are not copied.
    "sphinx_copybutton",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
templates_path = ["_templates"]
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3

# -- API reference ----------------------------------------------------------

autosummary_generate = True
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
# "fit()" rather than "MLPClassifier.fit()" in the page's table of contents.
toc_object_entries_show_parents = "hide"
numpydoc_show_class_members = False  # the class template lists the methods
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()
# The types in Parameters and Returns sections link the library names below
# (resolved by ``_library_url``); every other word stays text.  numpydoc's
# own aliases ("int", "None", "array_like", ...) point into the Python and
# NumPy inventories that this build cannot load, so they stay text too.
numpydoc_xref_param_type = True
numpydoc_xref_ignore = "all"
numpydoc_xref_aliases = {name: name for name in DEFAULT_LINKS} | {
    "ndarray": ":class:`~numpy.ndarray`",
    "RandomState": ":class:`~numpy.random.RandomState`",
    "sparse matrix": ":mod:`sparse matrix <scipy.sparse>`",
    "dask.array.Array": ":class:`dask.array.Array`",
    "dask.dataframe.DataFrame": ":class:`dask.dataframe.DataFrame`",
    "dask.dataframe.Series": ":class:`dask.dataframe.Series`",
    "onnx.ModelProto": ":class:`onnx.ModelProto`",
}

# -- Cross-references -------------------------------------------------------
#
# CI reaches no documentation site, so intersphinx cannot fetch the
# inventories of NumPy, SciPy and the other libraries at build time.
# References into scikit-learn, NumPy, SciPy, Dask, joblib and ONNX become
# links by those projects' URL patterns (``setup`` below); the rest stay plain
# text.  Nitpicky mode ignores the missing targets of these namespaces (and
# only those), so a broken reference to fastnn's own API still fails the
# build.
_EXTERNAL = (
    "numpy",
    "np",
    "scipy",
    "joblib",
    "threadpoolctl",
    "dask",
    "distributed",
    "matplotlib",
    "onnx",
    "onnxruntime",
    "skl2onnx",
    "skops",
    "pandas",
)
nitpick_ignore_regex = [
    (r"py:.*", rf"({'|'.join(_EXTERNAL)})(\..*)?"),
    # Built-in types named in signatures and numpydoc type lines.
    (r"py:.*", r"(int|float|str|bool|dict|list|tuple|callable|object|None)"),
    # The output-only links of the losses (exp, softmax) are not hidden-layer
    # activations and have no public class; a loss's page names them.
    (r"py:class", r"fastnn\.activations\._(Exp|Softmax)"),
]

# -- Gallery ----------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # Run every example, not only plot_*.py: the scripts without a plot
    # (the Dask cluster) fail the build too when they break.
    "filename_pattern": r".*\.py",
    # Nothing under examples/ is skipped (the default skips __init__.py).
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "gallery_order.ExampleOrder",
    "download_all_examples": False,
    # "Examples using fastnn.X" under each name of the API reference.
    "doc_module": ("fastnn",),
    "backreferences_dir": "generated/backreferences",
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "show_memory": False,
    "min_reported_time": 1,
    # Per-example times are on each example's page; the separate
    # "Computation times" pages (one per gallery and one for the site) only
    # showed up twice in the search results.
    "write_computation_times": False,
    # Variables are not linked by the type they hold when the example ends:
    # a loop over both libraries' classes linked to fastnn's page.
    "inspect_global_variables": False,
}

# -- HTML -------------------------------------------------------------------

copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
html_theme = "pydata_sphinx_theme"
html_title = f"fastnn {release}"
html_static_path = ["_static"]
html_css_files = ["fastnn.css"]
html_show_sourcelink = False
html_theme_options = {
    "logo": {"text": f"fastnn {release}"},
    # The search button, and the release notes where the navigation bar
    # folds into the side drawer (phones, narrow windows): see the template.
    "navbar_persistent": ["navbar-persistent"],
    # The icon links are where a source repository and an issue tracker
    # would be linked; fastnn has no public repository yet, so there are
    # none, and no URL stands in for them.
    "navbar_end": ["navbar-icon-links"],
    # The page's contents beside every page but the gallery's, which give
    # the width to their code (88-column lines).
    "secondary_sidebar_items": {
        page: ["page-toc"]
        for page in (
            "index",
            "install",
            "api",
            "changelog",
            "user_guide/*",
            "generated/*",
        )
    }
    # The widest tables, on the performance page, take the sidebar's room.
    | {"user_guide/performance": []},
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_context = {"default_mode": "light"}
# Pages outside a section have nothing to list in the left column, which
# would only say "Section Navigation".
html_sidebars = {"index": [], "install": [], "changelog": []}


# -- Links into other libraries' documentation -----------------------------
#
# Without intersphinx, scikit-learn's own docstrings (inherited methods such
# as ``set_fit_request``) and fastnn's references to scikit-learn would be
# dangling.  scikit-learn's URLs follow fixed patterns, so the few kinds of
# reference used are resolved to them here; anything else still fails.
_SKLEARN = "https://scikit-learn.org/stable/"
_SKLEARN_LABELS = {
    "metadata_routing": "metadata_routing.html",
    "accuracy_score": "modules/model_evaluation.html#accuracy-score",
    "r2_score": "modules/model_evaluation.html#r2-score",
}
_SKLEARN_TERMS = {"meta-estimator"}


def _sklearn_url(domain: str, reftype: str, target: str) -> str | None:
    if domain == "std" and reftype == "ref":
        return _SKLEARN + _SKLEARN_LABELS[target] if target in _SKLEARN_LABELS else None
    if domain == "std" and reftype == "term":
        if target.lower() not in _SKLEARN_TERMS:
            return None
        return f"{_SKLEARN}glossary.html#term-{target.lower()}"
    if domain == "py" and target.startswith("sklearn."):
        if reftype == "mod":
            return f"{_SKLEARN}api/{target}.html"
        # One page per public class or function; a method is an anchor on
        # its class's page.
        parts = target.split(".")
        classes = [i for i, part in enumerate(parts) if part[:1].isupper()]
        if not classes or classes[0] == len(parts) - 1:
            return f"{_SKLEARN}modules/generated/{target}.html"
        owner = ".".join(parts[: classes[0] + 1])
        return f"{_SKLEARN}modules/generated/{owner}.html#{target}"
    return None


# NumPy, SciPy, Dask, joblib and ONNX: only the URL patterns these projects'
# documentation is known to follow (a generated page per name, or an anchor
# on one API page).  A name outside them, or one the installed library does
# not have (a typo would give a dead link), stays plain text.
_NUMPY = "https://numpy.org/doc/stable/reference/"
_SCIPY = "https://docs.scipy.org/doc/scipy/reference/"
_DASK = "https://docs.dask.org/en/stable/"
_DISTRIBUTED = "https://distributed.dask.org/en/stable/api.html#"
_JOBLIB = "https://joblib.readthedocs.io/en/stable/generated/"
_ONNX = "https://onnx.ai/onnx/api/classes.html#"
_ONNXRUNTIME = "https://onnxruntime.ai/docs/api/python/api_summary.html#"
_SKL2ONNX = "https://onnx.ai/sklearn-onnx/api_summary.html#"
_LIBRARIES = {
    "numpy",
    "scipy",
    "dask",
    "distributed",
    "joblib",
    "onnx",
    "onnxruntime",
    "skl2onnx",
}
# Names documented away from their library's general pattern.
_LIBRARY_PAGES = {
    f"numpy.random.{name}": f"{_NUMPY}random/{page}.html#numpy.random.{name}"
    for name, page in [
        ("RandomState", "legacy"),
        ("Generator", "generator"),
        ("default_rng", "generator"),
    ]
} | {
    "dask.array": f"{_DASK}array.html",
    "dask.dataframe": f"{_DASK}dataframe.html",
    "dask.bag": f"{_DASK}bag.html",
    "dask.delayed": f"{_DASK}delayed.html",
    "skl2onnx.to_onnx": f"{_SKL2ONNX}skl2onnx.to_onnx",
    "skl2onnx.convert_sklearn": f"{_SKL2ONNX}skl2onnx.convert_sklearn",
    "skl2onnx.update_registered_converter": (
        f"{_SKL2ONNX}skl2onnx.update_registered_converter"
    ),
}
_MISSING = object()


def _lookup(target: str) -> object:
    """The object a dotted name denotes here, or ``_MISSING``."""
    parts = target.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr, _MISSING)
            if obj is _MISSING:
                break
        return obj
    return _MISSING


def _library_url(target: str) -> str | None:
    """The page of a NumPy, SciPy, Dask, joblib or ONNX name, or None."""
    if target.startswith("dask.distributed."):  # distributed's names, re-exported
        target = target.removeprefix("dask.")
    parts = target.split(".")
    if len(parts) < 2 or parts[0] not in _LIBRARIES:
        return None
    obj = _lookup(target)
    if obj is _MISSING:
        return None
    if target in _LIBRARY_PAGES:
        return _LIBRARY_PAGES[target]
    top, name = parts[0], parts[1]
    if inspect.ismodule(obj):
        # SciPy has a page per subpackage; the other libraries' module pages
        # follow no pattern (Dask's are listed above).
        return f"{_SCIPY}{name}.html" if top == "scipy" and len(parts) == 2 else None
    if top == "numpy":
        # A page per function and class of numpy, numpy.linalg and numpy.fft,
        # and per member of ndarray; the scalar types (numpy.float32) share
        # one page, the constants (numpy.pi) another, and numpy.random's
        # pages are elsewhere (listed above where used).
        scalar = isinstance(obj, type) and issubclass(obj, _lookup("numpy.generic"))
        in_module = len(parts) == 2 or (name in ("linalg", "fft") and len(parts) == 3)
        if name == "ndarray" or (callable(obj) and not scalar and in_module):
            return f"{_NUMPY}generated/{target}.html"
        return None
    if top == "scipy" and callable(obj) and not name.startswith("_"):
        return f"{_SCIPY}generated/{target}.html"
    if top == "dask" and name in ("array", "dataframe", "bag") and callable(obj):
        return f"{_DASK}generated/{target}.html"
    if top == "distributed" and name in ("Client", "LocalCluster"):
        return _DISTRIBUTED + target
    if top == "joblib" and len(parts) == 2 and name in _lookup("joblib.__all__"):
        return f"{_JOBLIB}{target}.html"
    if top == "onnx" and len(parts) == 2 and name.endswith("Proto"):
        return _ONNX + target
    if top == "onnxruntime" and isinstance(_lookup(f"onnxruntime.{name}"), type):
        return _ONNXRUNTIME + target
    return None


def _external_url(domain: str, reftype: str, target: str) -> str | None:
    """Where a reference that fastnn's pages cannot resolve points, if known.

    Parameters
    ----------
    domain : str
        The reference's domain (``"py"``, ``"std"``).
    reftype : str
        Its role (``"class"``, ``"func"``, ``"ref"``, ``"term"``, ...).
    target : str
        Its target, a dotted name in the Python domain.

    Returns
    -------
    url : str or None
        The page (and anchor) in scikit-learn's, NumPy's, SciPy's, Dask's,
        joblib's or ONNX's documentation, or None to leave the reference
        unresolved: nitpicky mode then reports it unless it names one of the
        ``_EXTERNAL`` namespaces.
    """
    url = _sklearn_url(domain, reftype, target)
    if url is None and domain == "py":
        url = _library_url(target)
    return url


def _resolve_external(app, env, node, contnode):
    from docutils import nodes

    domain = node.get("refdomain", "")
    url = _external_url(domain, node["reftype"], node["reftarget"])
    if url is None:
        return None
    ref = nodes.reference("", "", internal=False, refuri=url)
    ref.append(contnode)
    return ref


def _drop_foreign_versions(app, what, name, obj, options, lines) -> None:
    """Remove "Added in version" notes from docstrings fastnn inherits.

    scikit-learn's methods (``set_fit_request``, ...) say in which
    scikit-learn version they were added, which reads as a fastnn version
    on this site.
    """
    module = getattr(obj, "__module__", None) or ""
    if module == "fastnn" or module.startswith("fastnn."):
        return
    kept, skipping = [], False
    for line in lines:
        if line.lstrip().startswith((".. versionadded::", ".. versionchanged::")):
            skipping = True
            continue
        # The directive's body is indented under it; a blank line or the
        # next unindented line ends it.
        if skipping and (line.startswith((" ", "\t")) or not line.strip()):
            if not line.strip():
                skipping = False
                kept.append(line)
            continue
        skipping = False
        kept.append(line)
    lines[:] = kept


def _check_gallery_links(app, exception) -> None:
    """Fail the build where a gallery line naming scikit-learn links to one
    of fastnn's API pages (an imported name shared by both libraries was
    linked to fastnn's)."""
    if exception is not None or app.builder.format != "html":
        return
    wrong = []
    for page in sorted(Path(app.outdir, "auto_examples").glob("*.html")):
        for line in page.read_text(encoding="utf-8").splitlines():
            if 'class="nn">sklearn<' in line and "generated/fastnn." in line:
                wrong.append(f"{page.name}: {re.sub('<[^>]+>', '', line).strip()}")
    if wrong:
        raise ExtensionError(
            "scikit-learn's names link to fastnn's API pages:\n" + "\n".join(wrong)
        )


def setup(app):
    app.connect("missing-reference", _resolve_external)
    app.connect("autodoc-process-docstring", _drop_foreign_versions)
    app.connect("build-finished", _check_gallery_links)
