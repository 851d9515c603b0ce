"""The user guide's code runs as written.

Each page's ``python`` blocks run in order in one namespace, as a reader
pasting them into a session would, in a scratch folder (a snippet writes a
file).  The Dask page's code starts a small ``LocalCluster`` of its own; the
test closes it after the page has run.
"""

import re
import sys
from pathlib import Path

import matplotlib
import pytest
import sklearn

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "user_guide"
PAGES = sorted(
    p.name for p in GUIDE.glob("*.md") if "```python" in p.read_text(encoding="utf-8")
)


def test_the_pages_with_code_are_found():
    assert {
        "dask.md",
        "inspection.md",
        "validation.md",
        "onnx.md",
        "persistence.md",
    } <= set(PAGES)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("page", PAGES)
def test_guide_page_code_runs(page, tmp_path, monkeypatch):
    text = (GUIDE / page).read_text(encoding="utf-8")
    if "sklearn.callback" in text:
        pytest.importorskip("sklearn.callback", reason="scikit-learn >= 1.9")
    if "distributed" in text:
        pytest.importorskip("distributed")  # the `dask` extra
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    config = sklearn.get_config()
    try:
        for i, block in enumerate(re.findall(r"```python\n(.*?)```", text, re.S)):
            exec(compile(block, f"{page}, block {i + 1}", "exec"), namespace)
    finally:
        _close_clients(namespace)
        sklearn.set_config(**config)
        import matplotlib.pyplot as plt

        plt.close("all")


def _close_clients(namespace: dict) -> None:
    """Close the Dask clients a page opened, and the clusters they started."""
    if "distributed" not in sys.modules:  # no page imported it
        return
    from distributed import Client

    for value in namespace.values():
        if isinstance(value, Client):
            cluster = value.cluster
            value.close()
            if cluster is not None:
                cluster.close()
