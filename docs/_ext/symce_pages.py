"""Pages written from the code before Sphinx reads the sources: one per spec, the identities, the benchmarks.

At ``builder-inited`` this extension writes, under the source folder (all of it ignored by git):

- ``specs/index.md`` and ``specs/<name>.md`` for every spec of ``symce.spec.SPECS``: its formula, inputs,
  parameters and assumptions, the identities that mention it with their status, and its gradient
  derivation from ``symce.derivations`` in LaTeX (``symce derive NAME --format latex``), rendered by
  imgmath like every other formula;
- ``identities.md``: every identity with its status from ``symce check --json`` (run in a child
  process while the derivations are built here), its argument, and its derivation where it has one;
- ``benchmarks.md``: ``benchmarks/results.md`` under the run's machine and command from
  ``benchmarks/results.json``, with the figure ``benchmarks/results.png``.

An identity "mentions" a spec when one of its claims contains the spec's expression at some setting
of its parameters (each at its default or left symbolic; a vector spec's free index j also as i or t),
or has the spec's gradient at such a setting as its left-hand side. The proofs and derivations are
kept in the doctree folder, keyed on the sources of symce.spec, symce.identities and symce.derivations,
so a rebuild into the same folder after a change elsewhere does not run them again. A FAILED identity
or a derivation that does not check is a Sphinx warning, so ``-W`` fails the build.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import pathlib
import subprocess
import sys

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging

logger = logging.getLogger(__name__)

ROOT = pathlib.Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
#: the packages whose sources the cached proofs and derivations depend on
CACHE_KEY_SOURCES = ("symce/spec", "symce/identities", "symce/derivations")
CHECK = "import sys; from symce.cli import main; sys.exit(main(['check', '--json']))"


# ----- what the code says ---------------------------------------------------------------------------

def _cache_key() -> str:
    import sympy

    digest = hashlib.sha256(f"sympy {sympy.__version__}\n".encode())
    for folder in CACHE_KEY_SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _mentions() -> dict[str, list[str]]:
    """identity name -> the names of the specs it mentions (see the module docstring)."""
    import sympy as sp

    from symce.identities import IDENTITIES
    from symce.identities.algebra import i
    from symce.spec import SPECS
    from symce.spec.symbols import j, t

    forms: dict[str, tuple[list, list]] = {}
    for name, spec in SPECS.items():
        gradient = spec.gradient() if spec.output == "scalar" else None
        exprs, gradients = set(), set()
        for symbolic in itertools.product((False, True), repeat=len(spec.params)):
            setting = {param.name: None for param, keep in zip(spec.params, symbolic) if keep}
            expr = spec.with_params(setting)
            exprs |= {expr, expr.subs(j, t), expr.subs(j, i)}
            if gradient is not None:
                gradients.add(spec.with_params(setting, gradient))
        forms[name] = ([e for e in exprs if not e.is_Atom], list(gradients))
    mentions = {}
    for name, identity in IDENTITIES.items():
        mentions[name] = [spec for spec, (exprs, gradients) in forms.items()
                          if any(claim.has(*exprs) for claim in identity.claims)
                          or any(isinstance(claim, sp.Rel) and claim.lhs in gradients for claim in identity.claims)]
    return mentions


def _derivations() -> tuple[dict[str, dict], list[str]]:
    """name -> {kind, summary, title, checked, latex, specs} for every derivation; and the errors."""
    from symce.derivations import CATALOG, DerivationError, derivation, render

    out, errors = {}, []
    for name, entry in CATALOG.items():
        try:
            built = derivation(name)
            latex = render(built, "latex")
        except DerivationError as error:
            errors.append(f"derivation {name!r} does not check: {error}")
            continue
        comments = [line[2:] for line in latex.splitlines() if line.startswith("% ")]
        body = "\n".join(line for line in latex.splitlines() if not line.startswith("%"))
        checked = comments[1].removeprefix("checked by SymPy (symce): ") if len(comments) > 1 else ""
        out[name] = {"kind": entry.kind, "summary": entry.summary, "title": built.title, "checked": checked,
                     "latex": body.strip(), "specs": [spec.name for spec in built.specs]}
    return out, errors


def _specs() -> dict[str, dict]:
    import sympy as sp

    from symce.spec import SPECS

    return {name: {
        "formula": spec.formula, "doc": spec.doc, "family": spec.family, "reference": spec.reference,
        "torch": spec.torch, "output": spec.output, "latex": sp.latex(spec.expr),
        "inputs": [(i.name, i.kind, i.domain, i.description) for i in spec.inputs],
        "params": [(p.name, p.kind, sp.latex(p.default), p.description) for p in spec.params],
        "assumptions": [(a.text, sp.latex(a.relation)) for a in spec.assumptions],
    } for name, spec in SPECS.items()}


def _check_in_child() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHECK], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def collect(cache: pathlib.Path) -> dict:
    """Everything the pages show, from the cache when the sources it was made from are unchanged."""
    key = _cache_key()
    if cache.exists():
        stored = json.loads(cache.read_text(encoding="utf-8"))
        if stored.get("key") == key:
            return stored
    check = _check_in_child()  # ~20 s of proofs on one core, while this process builds the derivations
    derivations, errors = _derivations()
    data = {"key": key, "specs": _specs(), "mentions": _mentions(), "derivations": derivations, "errors": errors}
    stdout, stderr = check.communicate()
    try:
        data["identities"] = json.loads(stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"symce check --json gave no JSON (exit status {check.returncode}):\n{stderr[-3000:]}")
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return data


# ----- the pages ------------------------------------------------------------------------------------

def _text(text: str) -> str:
    """Plain text as Markdown shows it: no emphasis from ``_``/``*``, no math from ``$``, on one line."""
    out = str(text).replace("\\", "\\\\")
    for char in "*_`[]<>$|":
        out = out.replace(char, "\\" + char)
    return out.replace("\n", " ")



def _math(latex: str, nowrap: bool = False) -> str:
    option = ":nowrap:\n" if nowrap else ""
    return f"```{{math}}\n{option}{latex}\n```\n"


def _anchor(name: str) -> str:
    return name.replace("_", "-")


def spec_page(name: str, spec: dict, data: dict) -> str:
    lines = [f"# `{name}`", "", _text(spec["doc"]), "", f"**Formula:** {_text(spec['formula'])}", "",
             "As symce defines it (`symce.spec.get(" + repr(name) + ").expr`, one sample, C classes):", "",
             _math(spec["latex"])]
    facts = [("family", spec["family"]), ("output", spec["output"]), ("torch", spec["torch"] and f"`{spec['torch']}`"),
             ("reference", _text(spec["reference"]))]
    lines += [f"- {label}: {value}" for label, value in facts if value] + [""]
    lines += ["## Inputs", "", "| name | kind | domain | description |", "|---|---|---|---|"]
    lines += [f"| `{n}` | {k} | {d} | {_text(text)} |" for n, k, d, text in spec["inputs"]] + [""]
    if spec["params"]:
        lines += ["## Parameters", "", "| name | kind | default | description |", "|---|---|---|---|"]
        lines += [f"| `{n}` | {k} | ${d}$ | {_text(text)} |" for n, k, d, text in spec["params"]] + [""]
    if spec["assumptions"]:
        lines += ["## Assumptions", ""] + [f"- {_text(text)}: ${latex}$" for text, latex in spec["assumptions"]] + [""]
    lines += ["## Identities that mention it", ""]
    results = {result["name"]: result for result in data["identities"]}
    mentioning = [identity for identity, specs in data["mentions"].items() if name in specs]
    if mentioning:
        lines += ["Status from `symce check`, run when these pages were built.", "",
                  "| identity | statement | status |", "|---|---|---|"]
        lines += [f"| [`{identity}`](../identities.md#{_anchor(identity)}) | {_text(results[identity]['statement'])} "
                  f"| {_text(results[identity]['status'])} |" for identity in mentioning] + [""]
    else:
        lines += ["No identity's claims contain this spec's expression.", ""]
    derivation = data["derivations"].get(name)
    lines += ["## Derivation", ""]
    if derivation:
        lines += [f"`symce derive {name} --format latex`: **{derivation['title']}**", "",
                  f"Checked by SymPy: {_text(derivation['checked'])}.", "", _math(derivation["latex"], nowrap=True)]
    else:
        lines += [f"`symce derive {name}` did not check when these pages were built.", ""]
    return "\n".join(lines)


def specs_index(data: dict) -> str:
    lines = ["# Specs", "",
             "One page per spec of `symce.spec.SPECS` (`symce specs` lists them), written from the code when the "
             "site is built: the definition, the identities that mention it with their proof status, and its "
             "gradient derivation, every step checked by SymPy.", "",
             "| spec | formula |", "|---|---|"]
    lines += [f"| [`{name}`]({name}.md) | {_text(spec['formula'])} |" for name, spec in data["specs"].items()]
    lines += ["", "```{toctree}", ":hidden:", "", *data["specs"], "```", ""]
    return "\n".join(lines)


def identities_page(data: dict) -> str:
    results = data["identities"]
    proven = sum(result["proven"] for result in results)
    failed = sum(result["status"] == "FAILED" for result in results)
    lines = ["# Identities", "",
             f"The {len(results)} identities of `symce.identities`, established by `symce check` when this site was "
             f"built: {proven} proven, {len(results) - proven - failed} checked numerically only, {failed} failed. "
             "What each status rests on is described in the [tour](tour.md).", "",
             "| identity | statement | status |", "|---|---|---|"]
    for result in results:
        lines.append(f"| [`{result['name']}`](#{_anchor(result['name'])}) | {_text(result['statement'])} "
                     f"| {_text(result['status'])} |")
    lines.append("")
    derivations = {name: d for name, d in data["derivations"].items() if d["kind"] == "identity"}
    for result in results:
        lines += [f"## {result['name']}", "", _text(result["statement"]), "",
                  f"- status: **{_text(result['status'])}** ({result['seconds']:.2f} s)", f"- how: {_text(result['how'])}"]
        if result["assumptions"]:
            lines.append(f"- assuming: {_text('; '.join(result['assumptions']))}")
        specs = ", ".join(f"[`{spec}`](specs/{spec}.md)" for spec in data["mentions"].get(result["name"], []))
        lines += [f"- detail: {_text(result['detail'])}"] + ([f"- specs it mentions: {specs}"] if specs else []) + [""]
        if result["name"] in derivations:
            derivation = derivations[result["name"]]
            lines += [f"`symce derive {result['name']} --format latex`: **{derivation['title']}**", "",
                      f"Checked by SymPy: {_text(derivation['checked'])}.", "", _math(derivation["latex"], nowrap=True)]
    return "\n".join(lines)


def benchmarks_page() -> str:
    result = json.loads((BENCHMARKS / "results.json").read_text(encoding="utf-8"))
    machine = result.get("machine", {})
    tables = (BENCHMARKS / "results.md").read_text(encoding="utf-8").splitlines()
    if tables and tables[0].startswith("# "):
        tables = tables[1:]
    # under this page's title: its headings one level down, its bold table captions headings
    tables = ["#" + line if line.startswith("#") else
              f"### {line[2:-2]}" if line.startswith("**") and line.endswith("**") else line for line in tables]
    command = " ".join(pathlib.Path(result["command"][0]).name.split() + result["command"][1:])
    lines = ["# Benchmarks", "",
             "The last full run of `symce bench`, as committed in `benchmarks/` (`results.json` has every timing, "
             "`results.md` the tables below, `results.png` the figure). This page is written from those files when "
             "the site is built; [Speed against torch](performance.md) says what the numbers mean and how they "
             "came about.", "",
             f"- run: `{command}`, {result.get('created', '?')}, {result.get('seconds', 0) / 60:.1f} minutes",
             f"- machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, "
             f"{machine.get('memory_bytes', 0) / 2**30:.0f} GiB; Python {machine.get('python', '?')}, NumPy "
             f"{machine.get('numpy', '?')}, numba {machine.get('numba', '?')} "
             f"({machine.get('numba_threading_layer', '?')} threading layer), torch {machine.get('torch', '?')}"
             # the JAX peer's versions, in runs since the peers were added where jax is installed
             + (f", JAX {machine['jax']}, optax {machine.get('optax')}" if machine.get("jax") else ""), "",
             "```{figure} ../benchmarks/results.png", ":alt: speed-up over torch and fraction of the copy bandwidth per row",
             ":width: 100%", "", "`benchmarks/results.png`, written by `symce bench`.", "```", "",
             "## The run", "", *tables, ""]
    return "\n".join(lines)


def _write(path: pathlib.Path, text: str) -> None:
    """Write only what changed, so that Sphinx re-reads only the pages whose content did."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def write_pages(app: Sphinx) -> None:
    source = pathlib.Path(app.srcdir)
    data = collect(pathlib.Path(app.doctreedir) / "symce_pages.json")
    for error in data["errors"]:
        logger.warning(error)
    for result in data["identities"]:
        if result["status"] == "FAILED":
            logger.warning(f"identity {result['name']!r} FAILED in symce check: {result['detail']}")
    specs = source / "specs"
    wanted = {specs / "index.md"} | {specs / f"{name}.md" for name in data["specs"]}
    for stale in set(specs.glob("*.md")) - wanted:
        stale.unlink()
    _write(specs / "index.md", specs_index(data))
    for name, spec in data["specs"].items():
        _write(specs / f"{name}.md", spec_page(name, spec, data))
    _write(source / "identities.md", identities_page(data))
    _write(source / "benchmarks.md", benchmarks_page())


class DisplayEnvironments(SphinxPostTransform):
    """A notebook's LaTeX output that is a whole environment (``IPython.display.Latex("\\begin{align*}…")``, as
    the derivations notebook shows ``symce derive --format latex``) goes to LaTeX as it is: myst-nb makes it a
    display formula, which imgmath would otherwise wrap in ``equation*``/``split``, where align* cannot be."""

    default_priority = 100

    def run(self, **kwargs) -> None:
        for node in self.document.findall(nodes.math_block):
            if "text_latex" in node.get("classes", ()) and node.astext().lstrip().startswith("\\begin{"):
                node["nowrap"] = True


def setup(app: Sphinx) -> dict:
    app.connect("builder-inited", write_pages)
    app.add_post_transform(DisplayEnvironments)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}


__all__ = ["collect", "setup"]
