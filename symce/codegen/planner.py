"""What each generated kernel computes and keeps, decided as data from its SymPy expressions.

A :class:`Kernel` says what a generated function computes (its arguments and its row program or
elementwise expressions); :func:`plan_rows` and :func:`plan_elementwise` turn it into a plan —
for every specialisation (arguments at their defaults) and, in a row kernel, for finite rows and
rows whose max is not finite:

* the reductions of pass 2, which of them are split at the argmax and which summed whole, the
  output pass 2 stores the exponentials in, and the common subexpressions of their bodies;
* the row-level intermediates, the per-row output cases and, for each per-class output and row
  branch, the classes that override the loop, the loop's affine terms and ``write_row``'s terms;
* whether the argmax is read (and where it may be read as the label), whether the log1p of the
  run's exponential sum is taken, whether a caller's buffer is streamed, and the row lengths
  compiled.

The plan names every intermediate (``_tmp0 … _tmpN``, numbered in the order the emitter prints
them) but holds no code: :mod:`symce.codegen.emit` renders it, and decides nothing.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Iterator, Mapping, Sequence

import sympy as sp
from sympy.codegen.cfunctions import log1p

from symce.codegen.printer import sigmoids_written_out
from symce.codegen.program import Case, Reduction, RowProgram, argmax
from symce.codegen.rewrites import zs
from symce.spec.symbols import j, k

#: the output a kernel's ``_sum`` variant adds up per task (of rows) or chunk (of elements) instead
#: of storing one per row or element: what 'mean' and 'sum' need, without an array per row
SUMMED_OUTPUT = "loss"


# ----- what a kernel computes ------------------------------------------------------------------
@dataclass(frozen=True)
class Arg:
    """A kernel argument and the spec symbol it carries.

    ``role``: ``"rows"`` a (M, C) array (one row per sample), ``"label"`` (M,) int64 class
    indices, ``"classes"`` a (C,) array (class weights), ``"scalar"`` a number, ``"elements"``
    a flat (n,) array, ``"ignore_index"`` the label of ignored rows, ``"scale"`` the (M,)/(n,)
    factor of the gradient (grad_output), ``"flag"`` a bool choosing a variant.
    """

    name: str
    role: str
    symbol: sp.Basic | None = None
    #: the parameter's no-effect value (w = 1, ε = 0): the kernel has a specialised path for it,
    #: taken when an array argument is None or a scalar equals it
    default: sp.Expr | None = None

    @property
    def at_default(self) -> str:
        """The test for the specialised path: None for an array (numba prunes the other path at
        compile time), equality for a scalar."""
        if self.role == "scalar":
            return f"{self.name} == {float(self.default)!r}"
        return f"{self.name} is None"


@dataclass(frozen=True)
class Specialised:
    """A kernel's mathematics with some parameters at their defaults (fewer reads, fewer terms)."""

    program: RowProgram | None = None
    plain: RowProgram | None = None
    elementwise: Mapping[str, sp.Expr] = field(default_factory=dict)


@dataclass(frozen=True)
class Kernel:
    """One generated function: its name, arguments, and what it computes.

    ``program`` is the row program (row kernels); ``plain`` the program for rows whose max
    is not finite; ``outputs`` names what it returns in order (a row program's scalar and
    vector output names, or the elementwise expressions of ``elementwise``).
    """

    function: str
    doc: str
    args: tuple[Arg, ...]
    outputs: tuple[str, ...]
    program: RowProgram | None = None
    plain: RowProgram | None = None
    elementwise: Mapping[str, sp.Expr] = field(default_factory=dict)
    #: elementwise outputs chosen by the ``"flag"`` argument: {True: exprs, False: exprs}
    variants: Mapping[bool, Mapping[str, sp.Expr]] = field(default_factory=dict)
    #: the outputs multiplied by the ``"scale"`` argument (the gradients)
    scale: frozenset[str] = frozenset()
    #: names of the arguments at their defaults → the specialised mathematics (every subset of
    #: the arguments with a default, the empty one being the general case)
    specialised: Mapping[frozenset[str], Specialised] = field(default_factory=dict)

    def specialisation(self, defaults: frozenset[str]) -> Specialised:
        if not defaults:
            return Specialised(self.program, self.plain, self.elementwise)
        return self.specialised[defaults]

    def arg(self, role: str) -> Arg | None:
        """The kernel's argument of ``role``, or None."""
        return next((a for a in self.args if a.role == role), None)

    def specialisable(self, arrays_only: bool = False) -> list[Arg]:
        """The arguments with a specialised path (``arrays_only``: the optional arrays alone)."""
        return [a for a in self.args if a.default is not None and not (arrays_only and a.role == "scalar")]

    @property
    def summable(self) -> bool:
        """Whether the kernel has a ``_sum`` variant: it returns a loss per row or element."""
        return SUMMED_OUTPUT in self.outputs


def buffers(kernel: Kernel) -> tuple[str, ...]:
    """The outputs a caller may pass in (``out=``): per-class outputs of row kernels, gradients
    of elementwise ones. Each is an optional trailing argument, allocated when None."""
    if kernel.program is not None:
        return tuple(name for name, _ in kernel.program.vectors if name in kernel.outputs)
    return tuple(name for name in kernel.outputs if name in kernel.scale)


def leaves(args: Sequence[Arg], chosen: frozenset[str] = frozenset()) -> Iterator[frozenset[str]]:
    """The sets of arguments at their defaults, in the order of the if/else nest that picks them
    (each argument at its default first)."""
    if not args:
        yield chosen
        return
    yield from leaves(args[1:], chosen | {args[0].name})
    yield from leaves(args[1:], chosen)


# ----- the plan's parts ------------------------------------------------------------------------
@dataclass(frozen=True)
class Assignment:
    """A named intermediate: ``symbol`` = ``value``."""

    symbol: sp.Symbol
    value: sp.Expr


@dataclass(frozen=True)
class ReductionPass:
    """Pass 2: every reduction accumulated in one sweep over the row.

    ``split[n]``: reduction n is a Σ_{k≠a} accumulated apart at the max (its ``argmax_terms[n]``,
    the term at a, taken out again); ``store``: the output the exponentials are kept in for pass 3;
    ``exponential_sum``: the reduction Σ_{k≠a} exp(z_k − m) a short row reads from its run.
    """

    reductions: tuple[Reduction, ...]
    shifted: bool
    split: tuple[bool, ...]
    argmax_terms: tuple[sp.Expr, ...]
    takes_exp: bool
    store: str | None
    exponential_sum: Reduction | None
    intermediates: tuple[Assignment, ...]
    bodies: tuple[sp.Expr, ...]


@dataclass(frozen=True)
class CasePlan:
    """One case of an output: where ``condition`` holds (None: otherwise), ``value`` after its
    own ``intermediates``; ``pins_label``: the condition says the label is the argmax."""

    condition: sp.Basic | None
    pins_label: bool
    intermediates: tuple[Assignment, ...]
    value: sp.Expr


@dataclass(frozen=True)
class ScalarPlan:
    """A per-row output, as cases."""

    output: str
    cases: tuple[CasePlan, ...]


@dataclass(frozen=True)
class Override:
    """A single class (j = a, j = t) whose value replaces the loop's, computed before the loop
    into ``symbol`` (the loop may overwrite what it reads)."""

    index: sp.Expr
    intermediates: tuple[Assignment, ...]
    symbol: sp.Symbol
    value: sp.Expr


@dataclass(frozen=True)
class AffineTerm:
    """``coefficient`` · ``product``: a row-level factor rounded to the row's dtype once, times a
    product of per-class reads (1 for the row-level constant)."""

    symbol: sp.Symbol
    coefficient: sp.Expr
    product: sp.Expr


@dataclass(frozen=True)
class BranchPlan:
    """A per-class output on one row-level branch (``condition``, None for every row).

    Its generic value runs as a loop in the row's dtype when ``affine`` (Σ coefficient · product),
    else as ``loop_value`` after ``loop_intermediates`` in float64; with ``writes_row`` a long row
    is written by the runtime's write_row, every product being reads at j."""

    condition: sp.Basic | None
    pins_label: bool
    overrides: tuple[Override, ...]
    affine: tuple[AffineTerm, ...] | None
    writes_row: bool
    loop_intermediates: tuple[Assignment, ...] = ()
    loop_value: sp.Expr | None = None


@dataclass(frozen=True)
class VectorPlan:
    """A per-class output, one :class:`BranchPlan` per row-level branch."""

    output: str
    branches: tuple[BranchPlan, ...]


@dataclass(frozen=True)
class BlockPlan:
    """Passes 2 and 3 of one row for one specialisation (``defaults``), finite or plain."""

    defaults: frozenset[str]
    shifted: bool
    reduction: ReductionPass | None
    intermediates: tuple[Assignment, ...]
    scalars: tuple[ScalarPlan, ...]
    vectors: tuple[VectorPlan, ...]
    reads_argmax: bool
    takes_log1p: bool

    @property
    def streams(self) -> bool:
        return any(branch.writes_row for vector in self.vectors for branch in vector.branches)


@dataclass(frozen=True)
class RowPlan:
    """A row kernel: a block per specialisation for finite rows (``finite``, shifted kernels only)
    and for the rest (``plain``), and what the kernel's entry points need."""

    kernel: Kernel
    finite: tuple[BlockPlan, ...]
    plain: tuple[BlockPlan, ...]

    @property
    def shifted(self) -> bool:
        return self.kernel.program.shifted

    @property
    def takes_log1p(self) -> bool:
        """run_exponentials takes the log1p of each short row's sum only where a row reads it."""
        return any(block.takes_log1p for block in self.finite + self.plain)

    @property
    def reading_firsts(self) -> tuple[frozenset[str], ...]:
        """The specialisations whose finite rows read the pinned argmax (run_exponentials then finds
        each row's first index of its max)."""
        return tuple(block.defaults for block in self.finite if block.reads_argmax)

    @property
    def streams(self) -> bool:
        """Whether some row's output is written by write_row, so a caller's buffer may be streamed."""
        return any(block.streams for block in self.finite + self.plain)

    def lengths(self, in_place: bool) -> tuple[str, ...]:
        """The row lengths compiled: ``short``/``long`` where the row function takes its length
        (``streamed`` too for a caller's buffer written by write_row), else one ``into`` loop."""
        if not (self.shifted or in_place):
            return ("into",)
        return ("short", "long") + ("streamed",) * (self.streams and bool(buffers(self.kernel)) and not in_place)


@dataclass(frozen=True)
class ElementBlock:
    """An elementwise kernel's loop for one variant or specialisation: ``values`` (one per output)
    after ``intermediates``. ``flag``: the flag's value choosing it, or None; ``defaults``: the
    arguments at their defaults."""

    flag: bool | None
    defaults: frozenset[str]
    intermediates: tuple[Assignment, ...]
    values: tuple[sp.Expr, ...]


@dataclass(frozen=True)
class ElementwisePlan:
    """An elementwise kernel (``summed``: its ``_sum`` variant): its blocks for a scale with one
    value (``scaled_once``, kernels with a scale only) and for a scale per element (``blocks``)."""

    kernel: Kernel
    summed: bool
    scaled_once: tuple[ElementBlock, ...]
    blocks: tuple[ElementBlock, ...]


# ----- naming intermediates --------------------------------------------------------------------
class Numbering:
    """Fresh ``_tmpN`` names across one kernel, in printing order."""

    def __init__(self):
        self.count = 0

    def cse(self, exprs: Sequence[sp.Expr], ignore=()) -> tuple[tuple[Assignment, ...], list]:
        symbols = sp.numbered_symbols("_tmp", start=self.count, real=True)
        replacements, reduced = sp.cse(list(exprs), symbols=symbols, ignore=ignore, order="canonical")
        self.count += len(replacements)
        return tuple(Assignment(symbol, value) for symbol, value in replacements), reduced

    def fresh(self) -> sp.Symbol:
        """The next ``_tmpN`` name, for a value the kernel computes without CSE."""
        self.count += 1
        return sp.Symbol(f"_tmp{self.count - 1}", real=True)


# ----- pass 2 ----------------------------------------------------------------------------------
def argmax_term(reduction: Reduction) -> sp.Expr:
    """The term a reduction over k ≠ a leaves out: its body at the argmax, where z_a − m = 0."""
    if not reduction.excludes_argmax:
        return sp.S.Zero
    return reduction.body.subs(k, argmax).subs(zs[argmax], 0)


def _used_cases(program: RowProgram, outputs: Sequence[str]) -> list[Case]:
    return [c for name, cases in program.scalars + program.vectors if name in outputs for c in cases]


def whole_sums(program: RowProgram, outputs: Sequence[str]) -> RowProgram:
    """``program`` with each Σ_{k≠a} of a body without exponentials that ``outputs`` only use as
    (term at a) + Σ_{k≠a}, summed over every k instead: pinning the argmax then costs a search
    for it and a second accumulator, for nothing (Σ_k y_k in the loss of probability targets;
    the gradient at the argmax still needs Σ_{k≠a} y_k apart). A sum of exponentials keeps its
    split even then: leaving exp(z_a − m) = 1 out keeps float32 partial sums small."""
    reductions, whole = [], {}
    used = [c.expr for c in _used_cases(program, outputs)]
    for reduction in program.reductions:
        term = argmax_term(reduction)
        pair = term + reduction.symbol
        only_whole = not any(expr.subs(pair, sp.Dummy()).has(reduction.symbol) for expr in used)
        if term != 0 and not reduction.body.has(sp.exp) and only_whole:
            whole[pair] = reduction.symbol
            reduction = replace(reduction, excludes_argmax=False)
        reductions.append(reduction)
    if not whole:
        return program

    def summed(outputs_and_cases):
        # an output left out keeps its Σ_{k≠a}; it is not printed, and must not be misread
        return tuple((name, tuple(replace(c, expr=c.expr.subs(whole)) for c in cases)) if name in outputs
                     else (name, cases) for name, cases in outputs_and_cases)
    return replace(program, reductions=tuple(reductions), scalars=summed(program.scalars),
                   vectors=summed(program.vectors))


def _without_exponentials(expr: sp.Expr) -> sp.Expr:
    return expr.replace(lambda e: isinstance(e, sp.exp) and isinstance(e.args[0], sp.Indexed)
                        and e.args[0].base == zs, lambda e: sp.S.One)


def _reads_logits_only_through_exponentials(kernel: Kernel, program: RowProgram, outputs: Sequence[str],
                                            label) -> bool:
    """Whether every output reads z only through exp(z_k − m) (and z_t, loaded before pass 2)."""
    rows = kernel.arg("rows").symbol
    loaded = {zs[label], rows[label]} if label is not None else set()
    for case in _used_cases(program, outputs):
        reads = _without_exponentials(case.expr).atoms(sp.Indexed)
        if any(e not in loaded for e in reads if e.base in (zs, rows)):
            return False
    return True


def stores_exponentials(kernel: Kernel, program: RowProgram, outputs: Sequence[str], label) -> str | None:
    """The per-class output that pass 2 fills with exp(z_k − m), for pass 3 to read instead of
    recomputing it — or None.

    Only when pass 3 needs z solely through those exponentials (and z_t, loaded before pass 2):
    then the kernel stays correct when the output buffer *is* the logits (``out=input``).
    """
    vectors = [name for name, _ in program.vectors if name in outputs]
    if not (program.shifted and vectors):
        return None
    if not any(r.body.has(sp.exp(zs[k])) for r in program.reductions):
        return None
    vector_cases = [c for name, cases in program.vectors if name in outputs for c in cases]
    if not any(c.expr.has(sp.exp(zs[j])) for c in vector_cases):
        return None
    if not _reads_logits_only_through_exponentials(kernel, program, outputs, label):
        return None
    return vectors[0]


def exponential_sum(program: RowProgram) -> Reduction | None:
    """The reduction Σ_{k≠a} exp(z_k − m) of a shifted program, or None: a short row reads it, and
    its log1p, from run_exponentials, which computes them for the whole run."""
    return next((r for r in program.reductions if program.shifted and r.excludes_argmax
                 and r.body == sp.exp(zs[k])), None)


def _reduction_pass(kernel: Kernel, program: RowProgram, store: str | None, numbering: Numbering) -> ReductionPass:
    exponent = zs[k] if program.shifted else kernel.arg("rows").symbol[k]
    terms = tuple(argmax_term(r) for r in program.reductions)
    intermediates, bodies = numbering.cse([r.body for r in program.reductions])
    return ReductionPass(program.reductions, program.shifted, tuple(term != 0 for term in terms), terms,
                         any(r.body.has(sp.exp(exponent)) for r in program.reductions), store,
                         exponential_sum(program), intermediates, tuple(bodies))


# ----- pass 3 ----------------------------------------------------------------------------------
def label_pins(branch: sp.Basic) -> bool:
    """Whether ``branch`` asserts that the label is the argmax (so ``a`` may be read as ``t``)."""
    return any(isinstance(e, sp.Eq) and argmax in e.args and not e.has(j) for e in sp.And.make_args(branch))


def _pinned(expr: sp.Expr) -> sp.Expr:
    return expr.subs(j, argmax).subs(zs[argmax], 0)


def _override_index(case: Case) -> sp.Expr:
    condition = case.condition
    if not (isinstance(condition, sp.Eq) and j in condition.args):
        raise ValueError(f"a per-class case must be j = <class>, got {case.condition}")
    return condition.args[1] if condition.args[0] == j else condition.args[0]


def _branch_cases(cases: Sequence[Case], values: Mapping) -> tuple[int | None, list[tuple[sp.Expr, int]]]:
    """On the row branch where the row-level conditions take ``values``: the case that holds for
    every other class, and the single classes that override it, by priority."""
    overrides = []
    for number, case in enumerate(cases):
        condition = sp.true if case.condition is None else case.condition.xreplace(values)
        if condition == sp.true:
            return number, overrides
        if condition != sp.false:
            index = _override_index(replace(case, condition=condition))
            if index not in [i for i, _ in overrides]:
                overrides.append((index, number))
    return None, overrides


def _needed_overrides(cases: Sequence[Case], generic: int, overrides: list) -> list:
    """``overrides`` without the argmax's where the generic formula with exp(z_a − m) = 1 already
    is the pinned one."""
    return [(index, number) for index, number in overrides
            if index != argmax or sp.expand(_pinned(cases[generic].expr) - cases[number].expr) != 0]


def vector_branches(cases: Sequence[Case]) -> Iterator[tuple[sp.Basic | None, int | None, list]]:
    """For each row-level branch (conditions without j, e.g. t = a): the case that holds for
    every other class, and the single classes (j = a, j = t) that override it, by priority.

    Yields (branch condition or None, generic case number, [(class index, case number)]).
    """
    row_conditions = sorted({e for c in cases if c.condition is not None for e in c.condition.atoms(sp.Eq)
                             if not e.has(j)}, key=sp.default_sort_key)
    for truth in itertools.product((True, False), repeat=len(row_conditions)):
        values = {cond: sp.true if value else sp.false for cond, value in zip(row_conditions, truth)}
        generic, overrides = _branch_cases(cases, values)
        if generic is not None:
            overrides = _needed_overrides(cases, generic, overrides)
        branch = sp.And(*[c if v else sp.Not(c) for c, v in zip(row_conditions, truth)]) if row_conditions else None
        yield branch, generic, overrides


def row_affine(value: sp.Expr) -> list[tuple[sp.Expr, sp.Expr]] | None:
    """[(factor, product), …] with ``value`` = Σ factor · product, each factor row-level and each
    product a product of per-class reads (exp(z_j − m), w_j, y_ij, …) or 1, at least one not 1;
    None when a per-class value is not of that form (a sum or a function of the reads)."""
    terms: dict[sp.Expr, sp.Expr] = {}
    for term in sp.Add.make_args(sp.expand(value)):
        factor, product = term.as_independent(j, as_Add=False)
        if product != 1 and not all(isinstance(f, sp.Indexed) or (isinstance(f, sp.exp) and f.args[0] == zs[j])
                                    for f in sp.Mul.make_args(product)):
            return None
        terms[product] = terms.get(product, sp.S.Zero) + factor
    if set(terms) <= {sp.S.One}:
        return None
    # per-class products first, the row-level constant last, in a fixed order
    return sorted(((sp.factor_terms(factor), product) for product, factor in terms.items()),
                  key=lambda term: (term[1] == 1, sp.default_sort_key(term[1])))


def writable_by_row(kernel: Kernel, affine: Sequence[AffineTerm], store: str | None) -> bool:
    """Whether write_row can write Σ coefficient · product: every product's factors are arrays it
    reads at j (a rows or classes argument, or the exponentials pass 2 kept in ``store``)."""
    arrays = {arg.symbol for arg in kernel.args if arg.role in ("rows", "classes")}

    def readable(factor) -> bool:
        if isinstance(factor, sp.exp):
            return factor.args[0] == zs[j] and store is not None
        return isinstance(factor, sp.Indexed) and factor.indices == (j,) and factor.base in arrays
    return all(readable(factor) for term in affine if term.product != 1 for factor in sp.Mul.make_args(term.product))


def _branch_plan(kernel: Kernel, cases, values, branch, generic, overrides, native: bool, store, numbering):
    planned = []
    for index, case in overrides:
        local, (value,) = numbering.cse([values[case]])
        planned.append(Override(index, local, numbering.fresh(), value))
    pins = branch is not None and label_pins(branch)
    affine = row_affine(values[generic]) if native else None
    if affine is None:
        local, (value,) = numbering.cse([values[generic]])
        return BranchPlan(branch, pins, tuple(planned), None, False, local, value)
    terms = tuple(AffineTerm(numbering.fresh(), factor, product) for factor, product in affine)
    return BranchPlan(branch, pins, tuple(planned), terms, writable_by_row(kernel, terms, store))


def _vector_plan(kernel: Kernel, name: str, cases, values, native: bool, store, numbering) -> VectorPlan:
    return VectorPlan(name, tuple(_branch_plan(kernel, cases, values, branch, generic, overrides, native, store,
                                               numbering)
                                  for branch, generic, overrides in vector_branches(cases)))


def _scalar_plan(name: str, cases, values, numbering: Numbering) -> ScalarPlan:
    planned = []
    for case, value in zip(cases, values):
        local, (value,) = numbering.cse([value])
        pins = case.condition is not None and label_pins(case.condition)
        planned.append(CasePlan(case.condition, pins, local, value))
    return ScalarPlan(name, tuple(planned))


# ----- what a block reads ----------------------------------------------------------------------
def _printed(block: BlockPlan) -> Iterator[tuple[sp.Basic, bool]]:
    """Every expression the block prints, and whether it is printed with a read as t."""
    if block.reduction is not None:
        yield from ((term, False) for term in block.reduction.argmax_terms)
    yield from ((a.value, False) for a in block.intermediates)
    for case in (case for scalar in block.scalars for case in scalar.cases):
        yield from ((e, case.pins_label) for e in (case.value, *(a.value for a in case.intermediates)))
        yield from [(case.condition, False)] * (case.condition is not None)
    for vector in block.vectors:
        yield from _branches_printed(vector)


def _branches_printed(vector: VectorPlan) -> Iterator[tuple[sp.Basic, bool]]:
    last = len(vector.branches) - 1
    for number, branch in enumerate(vector.branches):
        # the last of several branches is an ``else``: its condition is not printed
        yield from [(branch.condition, False)] * (branch.condition is not None and not 0 < number == last)
        for override in branch.overrides:
            values = (override.index, override.value, *(a.value for a in override.intermediates))
            yield from ((e, branch.pins_label) for e in values)
        yield from ((term.coefficient, branch.pins_label) for term in branch.affine or ())
        yield from ((e, branch.pins_label) for e in (branch.loop_value, *(a.value for a in branch.loop_intermediates))
                    if e is not None)


def _reads_argmax(block: BlockPlan, label) -> bool:
    """Whether a shifted block reads the argmax a: a printed expression has it, other than in the
    relations t = a (tested by value, z_t = max) or where it is read as t."""
    if not block.shifted:
        return False
    tested = {sp.Eq(label, argmax): sp.Dummy(), sp.Eq(argmax, label): sp.Dummy()} if label is not None else {}
    return any(sp.sympify(expr).xreplace(tested).has(argmax) for expr, as_label in _printed(block) if not as_label)


def _takes_log1p(block: BlockPlan) -> bool:
    """Whether the block prints log1p of the run's exponential sum."""
    total = block.reduction.exponential_sum if block.reduction is not None else None
    return total is not None and any(sp.sympify(expr).has(log1p(total.symbol)) for expr, _ in _printed(block))


# ----- row kernels -----------------------------------------------------------------------------
def _row_level_values(program: RowProgram, outputs: Sequence[str], label) -> list[sp.Expr]:
    """Every case's value of the printed outputs, its sigmoids written out (as an elementwise kernel's); a
    case that holds only where the label is the argmax reads a as t before the row-level common
    subexpressions are hoisted: hoisted, w_a would make every row search for a."""
    pinned = {argmax: label} if label is not None else {}
    return [sigmoids_written_out(c.expr.xreplace(pinned) if c.condition is not None and label_pins(c.condition)
                                 else c.expr)
            for c in _used_cases(program, outputs)]


def plan_block(kernel: Kernel, program: RowProgram, defaults: frozenset[str], numbering: Numbering) -> BlockPlan:
    """Passes 2 and 3 of a row of ``program`` (``kernel``'s mathematics at ``defaults``)."""
    label = kernel.arg("label").symbol if kernel.arg("label") is not None else None
    outputs = kernel.outputs
    program = whole_sums(program, outputs)
    store = stores_exponentials(kernel, program, outputs, label)
    reduction = _reduction_pass(kernel, program, store, numbering) if program.reductions else None
    # row-level common subexpressions (free of the class indices) are computed once per row
    intermediates, reduced = numbering.cse(_row_level_values(program, outputs, label), ignore=(j, k))
    reduced = iter(reduced)
    scalars = tuple(_scalar_plan(name, cases, [next(reduced) for _ in cases], numbering)
                    for name, cases in program.scalars if name in outputs)
    vectors = tuple(_vector_plan(kernel, name, cases, [next(reduced) for _ in cases], program.shifted, store,
                                 numbering)
                    for name, cases in program.vectors if name in outputs)
    block = BlockPlan(defaults, program.shifted, reduction, intermediates, scalars, vectors, False, False)
    return replace(block, reads_argmax=_reads_argmax(block, label), takes_log1p=_takes_log1p(block))


def plan_rows(kernel: Kernel) -> RowPlan:
    """The plan of a row kernel; its intermediates are numbered in the order they are printed:
    finite rows' specialisations first, then the others'."""
    numbering = Numbering()
    if not kernel.program.shifted:
        plain = tuple(plan_block(kernel, kernel.specialisation(chosen).program, chosen, numbering)
                      for chosen in leaves(kernel.specialisable(arrays_only=True)))
        return RowPlan(kernel, (), plain)
    finite = tuple(plan_block(kernel, kernel.specialisation(chosen).program, chosen, numbering)
                   for chosen in leaves(kernel.specialisable()))
    # rare rows: specialised only where an absent (None) array must not be read
    plain = tuple(plan_block(kernel, kernel.specialisation(chosen).plain, chosen, numbering)
                  for chosen in leaves(kernel.specialisable(arrays_only=True)))
    return RowPlan(kernel, finite, plain)


# ----- elementwise kernels ---------------------------------------------------------------------
def _element_blocks(kernel: Kernel, numbering: Numbering) -> tuple[ElementBlock, ...]:
    flag = kernel.arg("flag")
    if flag is not None:
        chosen = [(value, frozenset(), kernel.variants[value]) for value in (True, False)]
    else:
        chosen = [(None, defaults, kernel.specialisation(defaults).elementwise)
                  for defaults in leaves(kernel.specialisable())]
    blocks = []
    for value, defaults, exprs in chosen:
        intermediates, reduced = numbering.cse([sigmoids_written_out(exprs[name]) for name in kernel.outputs])
        blocks.append(ElementBlock(value, defaults, intermediates, tuple(reduced)))
    return tuple(blocks)


def plan_elementwise(kernel: Kernel, summed: bool = False) -> ElementwisePlan:
    """The plan of an elementwise kernel (``summed``: of its ``_sum`` variant); a kernel with a
    scale has its blocks twice, for a scale of one value first."""
    numbering = Numbering()
    scaled_once = _element_blocks(kernel, numbering) if kernel.arg("scale") is not None else ()
    return ElementwisePlan(kernel, summed, scaled_once, _element_blocks(kernel, numbering))
