"""The user guide's code runs as written.

Each page's ``python`` blocks run in order in one namespace, as a reader
pasting them into a session would, in a scratch folder (a snippet writes a
file).  The Dask page's code connects to a cluster by address and is not run
here; ``tests/test_dask_fit.py`` covers what it shows.
"""

import re
from pathlib import Path

import matplotlib
import pytest
import sklearn

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "user_guide"
PAGES = sorted(
    p.name
    for p in GUIDE.glob("*.md")
    if "```python" in p.read_text(encoding="utf-8") and p.name != "dask.md"
)


def test_the_pages_with_code_are_found():
    assert {"inspection.md", "validation.md", "onnx.md", "persistence.md"} <= set(PAGES)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("page", PAGES)
def test_guide_page_code_runs(page, tmp_path, monkeypatch):
    text = (GUIDE / page).read_text(encoding="utf-8")
    if "sklearn.callback" in text:
        pytest.importorskip("sklearn.callback", reason="scikit-learn >= 1.9")
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    config = sklearn.get_config()
    try:
        for i, block in enumerate(re.findall(r"```python\n(.*?)```", text, re.S)):
            exec(compile(block, f"{page}, block {i + 1}", "exec"), namespace)
    finally:
        sklearn.set_config(**config)
        import matplotlib.pyplot as plt

        plt.close("all")
