"""Sphinx configuration of fastnn's documentation.

Build (warnings are errors, every cross-reference checked):

    python -m sphinx -W -n -b html docs docs/_build/html

The gallery runs every script in ``examples/``; a broken example fails the
build.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

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

# -- Cross-references -------------------------------------------------------
#
# CI reaches no documentation site, so intersphinx cannot fetch the
# inventories of NumPy, SciPy and the other libraries at build time.
# References into those libraries are left as plain text: nitpicky mode
# ignores the missing targets of their namespaces (and only those), so a
# broken reference to fastnn's own API still fails the build.  References to
# scikit-learn become links by its URL patterns (``setup`` below).
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


# -- Links into scikit-learn's documentation --------------------------------
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


def _resolve_sklearn(app, env, node, contnode):
    from docutils import nodes

    url = _sklearn_url(node.get("refdomain", ""), node["reftype"], node["reftarget"])
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
    app.connect("missing-reference", _resolve_sklearn)
    app.connect("autodoc-process-docstring", _drop_foreign_versions)
    app.connect("build-finished", _check_gallery_links)
