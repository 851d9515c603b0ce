"""Screenshots of the built documentation, to look at it as a reader would.

Renders seven pages of ``docs/_build/html`` (the home page, a user-guide
page with formulas, a table and a picture, the API index with its summary
tables, the ``MLPClassifier`` API page, two gallery pages and the general
index) with headless Chromium into PNG files::

    python -m sphinx -W -n -b html docs docs/_build/html
    python tools/screenshots.py                    # docs/_build/screenshots/*.png
    python tools/screenshots.py --width 800        # a narrow window

Needs Chromium (Debian: ``apt-get install chromium``).  The pages load
MathJax from a CDN; offline, Debian's ``libjs-mathjax`` is used instead when
installed (the script renders a copy of the site with that one script
replaced), otherwise the formulas show as TeX source.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Page, and the window height that shows what matters on it.
PAGES = {
    "home": ("index.html", 1400),
    "user-guide-activations-losses": ("user_guide/activations_losses.html", 2600),
    "api-index": ("api.html", 2400),
    "api-mlpclassifier": ("generated/fastnn.MLPClassifier.html", 2400),
    "gallery-activations": ("auto_examples/plot_activations.html", 2600),
    "gallery-benchmark": ("auto_examples/plot_benchmark.html", 3200),
    "general-index": ("genindex.html", 2400),
}
LOCAL_MATHJAX = Path("/usr/share/javascript/mathjax/MathJax.js")
# Sphinx's default MathJax (version 4 with Sphinx 9, 3 before).
CDN_MATHJAX = re.compile(r"https://cdn\.jsdelivr\.net/npm/mathjax@[^\"]+\.js")
# MyST marks its pages mathjax_ignore and names the classes to typeset in a
# MathJax 3+ configuration, which MathJax 2 spells differently.
MATHJAX_CONFIG = re.compile(r"window\.MathJax = (\{.*?\})</script>")


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("No Chromium found: apt-get install chromium")


def mathjax2_config(match: re.Match) -> str:
    config = json.loads(match.group(1))
    classes = config.get("options", {}).get("processHtmlClass", "tex2jax_process")
    mathjax2 = {"tex2jax": {"processClass": classes}}
    return f"window.MathJax = {json.dumps(mathjax2)}</script>"


def offline_copy(html: Path, into: Path) -> Path:
    """A copy of the site whose pages load MathJax from this machine."""
    site = into / "html"
    shutil.copytree(html, site)
    if not LOCAL_MATHJAX.exists():
        print("libjs-mathjax is not installed: formulas will show as TeX source")
        return site
    # MathJax 2's equivalent of the CDN's bundle: TeX input, HTML output;
    # both typeset the \(...\) and \[...\] that Sphinx writes.
    local = f"file://{LOCAL_MATHJAX}?config=TeX-AMS-MML_HTMLorMML"
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        text, n = CDN_MATHJAX.subn(local, text)
        if n:
            text = MATHJAX_CONFIG.sub(mathjax2_config, text)
            page.write_text(text, encoding="utf-8")
    return site


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=ROOT / "docs/_build/html")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/_build/screenshots")
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args()
    if not (args.html / "index.html").exists():
        sys.exit(f"No site in {args.html}: build it first (see --help)")
    chromium = find_chromium()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        site = offline_copy(args.html, Path(tmp))
        for name, (page, height) in PAGES.items():
            png = args.out / f"{name}.png"
            subprocess.run(
                [
                    chromium,
                    "--headless",
                    "--no-sandbox",  # CI runs as root
                    "--disable-gpu",
                    "--hide-scrollbars",
                    f"--user-data-dir={tmp}/profile",
                    f"--window-size={args.width},{height}",
                    # Time for MathJax and the images before the shot.
                    "--virtual-time-budget=10000",
                    f"--screenshot={png}",
                    (site / page).as_uri(),
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
            print(f"{png}  ({page})")


if __name__ == "__main__":
    main()
