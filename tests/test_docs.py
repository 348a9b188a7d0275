"""The documentation site builds with warnings as errors, and its derivations are rendered math.

The module fixture builds the site once (``python -m sphinx -W -b html docs <tmp>``) with the notebooks
not executed (``-D nb_execution_mode=off``: ``tests/test_notebooks.py`` runs them, and running them again
here would cost minutes); the spec, identity and benchmark pages are written from the code as in every
build (``docs/_ext/symce_pages.py``), which runs ``symce check`` and builds every derivation. Headless
Chromium (Debian's ``chromium``) then opens each page that holds a derivation and the test reads the
DOM it rendered: every math image it shows exists and is a non-empty SVG, and no raw LaTeX
(``\\begin{align``) is left in the visible text, which is what a page looks like when imgmath could
not render. One screenshot is saved in the pytest tmp folder and its path printed.
"""
from __future__ import annotations

import concurrent.futures
import html.parser
import pathlib
import shutil
import subprocess
import sys

import pytest

from symce.derivations import CATALOG
from symce.spec import SPECS

ROOT = pathlib.Path(__file__).parent.parent
DOCS = ROOT / "docs"
CHROMIUM = shutil.which("chromium")
#: seconds the build may take on a slow, shared CI machine (the whole module: 10-15 minutes of wall time, 2.7 of CPU,
#: on 2 cores shared at a load of 7-10; most of it symce check, the derivations and ~200 LaTeX runs)
BUILD_TIMEOUT = 900
#: seconds one Chromium page load may take
PAGE_TIMEOUT = 120
#: the pages with derivations: one per spec, and the identities page (the identity derivations)
DERIVATION_PAGES = [f"specs/{name}.html" for name in SPECS] + ["identities.html"]
SCREENSHOT_PAGE = "specs/softmax_cross_entropy_with_integer_labels.html"

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; "
                                                               "it is listed in .ci/apt-packages)")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> pathlib.Path:
    """The built site's folder; the build's output is in the failure message if it fails."""
    out = tmp_path_factory.mktemp("docs")
    html_dir = out / "html"
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q", "-d", str(out / "doctrees"),
               "-D", "nb_execution_mode=off", str(DOCS), str(html_dir)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    assert result.returncode == 0, (f"{' '.join(command)} failed (exit status {result.returncode}):\n"
                                    f"{result.stdout[-5000:]}\n{result.stderr[-10000:]}")
    return html_dir


class _Page(html.parser.HTMLParser):
    """The images and the visible text of a rendered DOM (no scripts, styles or attributes)."""

    HIDDEN = {"script", "style", "head", "title", "noscript", "template"}

    def __init__(self):
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.text: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self._hidden += 1
        if tag == "img":
            self.images.append({name: value or "" for name, value in attrs})

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.text.append(data)


def chromium(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
                           *arguments], capture_output=True, text=True, timeout=PAGE_TIMEOUT)


def rendered(page: pathlib.Path) -> _Page:
    """The DOM Chromium rendered for ``page``, parsed."""
    result = chromium("--dump-dom", page.as_uri())
    assert result.returncode == 0 and "</html>" in result.stdout, f"chromium could not open {page}:\n{result.stderr}"
    parsed = _Page()
    parsed.feed(result.stdout)
    return parsed


@pytest.fixture(scope="module")
def pages(site) -> dict[str, _Page]:
    """Every derivation page as Chromium rendered it, a few Chromium processes at a time."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(DERIVATION_PAGES, pool.map(rendered, [site / name for name in DERIVATION_PAGES])))


def test_the_site_builds_with_warnings_as_errors(site):
    assert (site / "index.html").is_file()


def test_every_page_of_the_site_is_built(site):
    names = ["installation", "tour", "notebooks", "verify", "custom_losses", "training", "caching", "accuracy",
             "performance", "benchmarks", "layout", "identities", "specs/index",
             *(f"api/{module}" for module in ("functional", "torch", "verify", "compile", "spec")),
             *(f"specs/{name}" for name in SPECS),
             *(f"notebooks/{notebook.stem}" for notebook in sorted((ROOT / "notebooks").glob("*.py")))]
    assert [name for name in names if not (site / f"{name}.html").is_file()] == []


def test_the_benchmarks_page_shows_the_figure_and_the_tables(site):
    text = (site / "benchmarks.html").read_text(encoding="utf-8")
    assert "results.png" in text
    assert (site / "_images" / "results.png").stat().st_size > 0
    assert "Forward+backward, ms" in text


def test_the_api_reference_documents_the_public_functions(site):
    functional = (site / "api" / "functional.html").read_text(encoding="utf-8")
    assert 'id="symce.functional.cross_entropy"' in functional
    assert 'id="symce.verify.verify"' in (site / "api" / "verify.html").read_text(encoding="utf-8")
    compiled = (site / "api" / "compile.html").read_text(encoding="utf-8")
    for name in ("symce.compile.compile", "symce.compile.loss.CompiledLoss.derivation",
                 *(f"symce.compile.loss.{kind}.{method}" for kind in ("IntegerLabelLoss", "ProbabilityTargetLoss",
                                                                      "ElementwiseLoss")
                   for method in ("__call__", "value_and_grad", "torch")),
                 "symce.compile.cache.root"):
        assert f'id="{name}"' in compiled, name


@needs_chromium
@pytest.mark.parametrize("name", DERIVATION_PAGES)
def test_the_math_is_rendered(site, pages, name):
    page = pages[name]
    math = [image for image in page.images if "/_images/math/" in "/" + image.get("src", "")]
    assert math, f"{name} shows no math image"
    for image in math:
        path = (site / name).parent / image["src"]
        assert path.is_file(), f"{name}: {image['src']} does not exist"
        svg = path.read_text(encoding="utf-8")
        assert path.suffix == ".svg" and "<svg" in svg and ("<path" in svg or "<use" in svg), \
            f"{name}: {image['src']} draws nothing"
    visible = " ".join(page.text)
    assert "\\begin{align" not in visible and "\\frac" not in visible, f"{name} shows raw LaTeX"


@needs_chromium
def test_each_derivation_is_on_its_page(pages):
    """Every spec page shows its gradient derivation, the identities page each identity derivation."""
    expected = {name: 0 for name in DERIVATION_PAGES}
    for name, entry in CATALOG.items():
        expected[f"specs/{name}.html" if entry.kind == "gradient" else "identities.html"] += 1
    shown = {name: sum("begin{align" in image.get("alt", "") and "_images/math/" in image.get("src", "")
                       for image in page.images) for name, page in pages.items()}
    assert shown == expected


@needs_chromium
def test_a_screenshot_of_a_derivation(site, tmp_path_factory):
    shot = tmp_path_factory.mktemp("screenshot") / "softmax_cross_entropy_with_integer_labels.png"
    result = chromium(f"--screenshot={shot}", "--window-size=1280,2600", (site / SCREENSHOT_PAGE).as_uri())
    assert result.returncode == 0 and shot.stat().st_size > 10_000, result.stderr
    print(f"screenshot of {SCREENSHOT_PAGE}: {shot}")
