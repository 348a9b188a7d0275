"""A printer for the scalar bodies of numba kernels.

SymPy's NumPy printer emits constructs nopython mode does not compile
(``functools.reduce(numpy.maximum, …)``, ``numpy.select``), so kernels are printed as plain
scalar Python: ``math.*`` calls, ``max``/``abs`` and conditional expressions, which numba
compiles to straight-line machine code. One ``_print_<Node>`` per node; anything without a
method here (a Sum left un-named, a Derivative, an unknown function) raises
:class:`UnsupportedNode` instead of printing something numba would reject or misread.
"""
from __future__ import annotations

import re
from typing import Mapping

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter


#: every generated function's numba options: cached (a source file per family), and IEEE
#: division (inf/nan, as torch gives) instead of Python's ZeroDivisionError check, whose branch
#: also stops a loop from vectorising
JIT_OPTIONS = "cache=True, error_model='numpy'"

#: reassoc lets LLVM vectorise the row sums (their order is free); contract allows FMA. No
#: nnan/ninf/nsz: inf and nan keep their IEEE meaning, which the plain-row branch relies on.
FASTMATH = "{'reassoc', 'contract'}"


class UnsupportedNode(TypeError):
    """A SymPy node the kernel printer has no translation for."""


class Sigmoid(sp.Function):
    """σ(v) = 1 / (1 + exp(−v)), kept whole so the kernel evaluates it without overflow
    (:meth:`through_exp_of_minus_abs`)."""

    nargs = 1

    def fdiff(self, argindex=1):
        return self * (1 - self)

    def through_exp_of_minus_abs(self) -> sp.Expr:
        """σ(v) = 1/(1 + E) for v ≥ 0 and E/(1 + E) below (the same ratio times exp(v)/exp(v)),
        E = exp(−|v|) ≤ 1: neither form overflows, a tiny σ keeps its relative precision, and the
        choice is a select, so a loop over σ vectorises."""
        v, = self.args
        e = sp.exp(-sp.Abs(v))
        return sp.Piecewise((1 / (1 + e), v >= 0), (e / (1 + e), True))


def sigmoids_written_out(expr: sp.Expr) -> sp.Expr:
    """``expr`` with every σ written through E = exp(−|v|), before common subexpressions are
    named: σ(v), σ(−v) and softplus's log1p(exp(−|v|)) then share one exponential, where a
    σ helper would compute one per call (three per element of a BCE-with-logits gradient)."""
    return expr.replace(lambda e: isinstance(e, Sigmoid), lambda e: e.through_exp_of_minus_abs())


class XLogX(sp.Function):
    """v·log v with its limit 0 at v = 0 (the 0·log 0 = 0 convention of entropy and torch's xlogy)."""

    nargs = 1


#: functions numba compiles from the math module, SymPy name → Python name (exp has its own helper)
MATH_FUNCTIONS = {
    "log": "math.log", "log1p": "math.log1p", "expm1": "math.expm1",
    "sqrt": "math.sqrt", "tanh": "math.tanh",
}

def _typed_dispatch(name: str, doc: str, fallback: str) -> str:
    """``name(x)``: numba picks ``<name>_float32`` or ``<name>_float64`` by x's type."""
    short = name.removeprefix("fast_")
    return f'''\
def {name}(x):
    """{doc} (numba picks {short}_float32 or {short}_float64 by type)."""
    return {fallback}(x)


@numba.extending.overload({name})
def _{name}_typed(x):
    if x == numba.types.float32:
        return lambda x: {short}_float32(x)
    return lambda x: {short}_float64(x)
'''


def _log1p_helper() -> str:
    from symce.codegen.polynomials import log1p_helper_source, log1p_polynomial

    return "\n\n".join([log1p_helper_source(log1p_polynomial("float32")), log1p_helper_source(log1p_polynomial("float64")),
                        _typed_dispatch("fast_log1p", "log1p(x) computed in x's own float type", "math.log1p")])


def _exp_helper() -> str:
    from symce.codegen.polynomials import exp_helper_source, exp_polynomial

    helpers = [exp_helper_source(exp_polynomial(dtype), nonpositive=nonpositive)
               for nonpositive in (False, True) for dtype in ("float32", "float64")]
    dispatch = [_typed_dispatch("fast_exp", "exp(x) computed in x's own float type", "math.exp"),
                _typed_dispatch("fast_exp_nonpositive", "exp(x) for x ≤ 0, in x's own float type", "math.exp")]
    return "\n\n".join(helpers + dispatch)


def _row_max_helper() -> str:
    """row_max(rows, i) → (max of row i, whether every element is finite), vectorised through
    integer keys. Once per row, so its cost shows on short rows: it takes (rows, i), not a slice
    rows[i] (a new array, reference-counted at each call), and numba inlines it (a call passing
    2-D arrays cost more than the max of 10 elements). Both together: 30 → 4 ns a row at C = 10."""
    typed = ['''\
@numba.njit({JIT_OPTIONS}, inline='always')
def short_row_max(rows, i, lowest):
    """(max of row i, is it finite with no nan in the row?, the first index of its max) for a row
    too short for a vector loop: a plain loop, the index a select on the comparison the max makes
    anyway. ``lowest``: −inf in the rows' dtype, where the max starts."""
    largest, clean, first = lowest, rows.shape[1] > 0, 0
    for k in range(rows.shape[1]):
        value = rows[i, k]
        clean &= value == value  # not `and`: a branch per element costs more than the loop
        first = k if value > largest else first
        largest = value if value > largest else largest
    return largest, clean and -np.inf < largest < np.inf, first


@numba.njit({JIT_OPTIONS}, inline='always')
def short_row_largest(rows, i, lowest):
    """The max of row i for a row too short for a vector loop, nan skipped (short_row_max
    without its nan test and its first index: one select an element, where short_row_max's three
    made run_exponentials 1.3x slower at 65536 × 10). ``lowest``: −inf in the rows' dtype."""
    largest = lowest
    for k in range(rows.shape[1]):
        value = rows[i, k]
        largest = value if value > largest else largest
    return largest
''']
    for dtype, bits in (("float32", 32), ("float64", 64)):
        signed, unsigned = f"int{bits}", f"uint{bits}"
        magnitude = (1 << (bits - 1)) - 1
        typed.append(f'''\
@numba.njit({{JIT_OPTIONS}}, inline='always')
def row_max_{dtype}(rows, i):
    """(max of row i, is it finite with no nan in the row?). Long rows: one vectorised unsigned
    max over u = key(b) − key(−inf), key(b) = b ^ ((b >> {bits - 1}) & 0x{magnitude:X}) (arithmetic shift),
    which orders floats as integers (−nan < −inf < … < inf < nan); the subtraction wraps −nan
    above +nan, so u puts −inf at 0, every finite float above it in order, then +inf and both
    nans: the row is finite iff 0 < max u < u(+inf). An integer max vectorises without fast-math
    flags, unlike a float max that must respect nan, and one reduction is half the work of a
    min and a max. Short rows: a plain loop, cheaper than setting that up."""
    n = rows.shape[1]
    if n < 32:
        largest, finite, _ = short_row_max(rows, i, np.{dtype}(-np.inf))
        return largest, finite
    bits = rows.view(np.{unsigned})
    negative_infinity = np.{unsigned}(np.{dtype}(-np.inf).view(np.{unsigned}) ^ np.{unsigned}({magnitude}))
    high = np.{unsigned}(0)
    for k in range(n):
        b = bits[i, k]
        key = b ^ (np.{unsigned}(np.{signed}(b) >> {bits - 1}) & np.{unsigned}({magnitude}))
        high = max(high, np.{unsigned}(key - negative_infinity))
    key = np.{unsigned}(high + negative_infinity)
    largest = np.{unsigned}(key ^ (np.{unsigned}(np.{signed}(key) >> {bits - 1}) & np.{unsigned}({magnitude}))).view(np.{dtype})
    positive_infinity = np.{unsigned}(np.{dtype}(np.inf).view(np.{unsigned}) - negative_infinity)
    return largest, np.{unsigned}(0) < high < positive_infinity
''')
    dispatch = '''\
def row_max(rows, i):
    """(max, all finite?) of row i of a C-contiguous float array (numba picks row_max_float32 or
    row_max_float64)."""
    return rows[i].max(), bool(np.isfinite(rows[i]).all())


@numba.extending.overload(row_max, inline='always')
def _row_max_typed(rows, i):
    if rows.dtype == numba.types.float32:
        return lambda rows, i: row_max_float32(rows, i)
    return lambda rows, i: row_max_float64(rows, i)


#: first_index's block: long enough that its count vectorises, short enough to find the match soon after
SEARCH_BLOCK = 128


@numba.njit({JIT_OPTIONS})
def first_index(rows, i, value):
    """The first k with rows[i, k] == value (the pinned argmax; value is in the row). A search
    that stops at the first match cannot vectorise, so it counts the matches of each block of
    SEARCH_BLOCK in a loop that does, and searches element by element only the block that has one."""
    n = rows.shape[1]
    whole = n - n % SEARCH_BLOCK
    found = whole
    for block in range(0, whole, SEARCH_BLOCK):
        matches = 0
        for k in range(block, block + SEARCH_BLOCK):
            matches += rows[i, k] == value
        if matches:
            found = block
            break
    for k in range(found, n):
        if rows[i, k] == value:
            return k
    return 0
'''
    return "\n\n".join(typed + [dispatch])


#: helpers every generated module defines (numba functions), by the SymPy function they print;
#: a callable is the source generated on demand
HELPERS = {
    "fast_exp": _exp_helper,
    "fast_log1p": _log1p_helper,
    "row_max": _row_max_helper,
    "cast_like": '''\
def cast_like(value, like):
    """value in the float type of like (numba picks float32 or float64 by type)."""
    return type(like)(value)


@numba.extending.overload(cast_like, inline='always')
def _cast_like_typed(value, like):
    if like == numba.types.float32:
        return lambda value, like: np.float32(value)
    return lambda value, like: np.float64(value)
''',
    "run_exponentials": '''\
#: what run_exponentials finds for a run of short rows: each array indexed by the row's place in
#: the run (exponentials by that and the class)
Run = collections.namedtuple("Run", "exponentials maxima finite firsts below_max log1p_below_max")


# its fastmath flags stated, not inherited: numba compiles a function without them for its
# first caller when that is Python, and every kernel then reuses that slower build (the sums
# no longer vectorise: the 65536 × 10 kernel took 1.1x as long)
@numba.njit({JIT_OPTIONS}, fastmath={FASTMATH})
def run_exponentials(rows, start, stop, scratch, with_log1p, with_firsts):
    """(exp(z − max) of rows start..stop, each row's max, whether each row is finite, the first
    index of each row's max where ``with_firsts`` (else an empty array), each row's
    Σ_{k≠a} exp(z_k − max), and log1p of it where ``with_log1p`` (else an empty array)) for rows
    too short for a vector loop of their own: the exponentials of the whole run in one flat loop,
    which vectorises (512-bit), where a row of 10 classes takes 10 scalar calls (1.5x faster at
    65536 × 10); log1p likewise, where a row took one scalar call (the kernel 1.1x faster; a kernel
    that takes no log1p, softmax, was 1.05x slower computing it anyway).
    The max loop is one select an element (short_row_largest), and a row's finiteness is read
    from its sum: a nan in the row makes its exponential, and so the sum, nan; a max of ±inf or
    an all −inf row is not finite. Testing each element for nan in the max loop, and moving the
    first index along in it, made this function 1.3x slower where no kernel reads that index; a
    kernel whose rows read it (the argmax a, pinned) asks for it with ``with_firsts``, and gets
    it from the max's own loop (short_row_max): found from the shifted row instead, as the first k
    with z_k − max = 0, it was a second dependency chain that made this function 1.3-1.4x slower.
    The sum adds the terms below 1 and the terms equal to 1 apart, as the kernels' own reduction
    pass does, so a confident row keeps every digit of its small sum. A row that is not finite
    gets exponentials that are never read (it takes the formula as written).
    The exponentials go into ``scratch`` (at least (stop − start) · C entries, the calling
    thread's own, reused from run to run): allocated per run, 128 KiB of float64 went through
    mmap and munmap, and made the kernel up to 1.7x slower."""
    prefer_wide_vectors()
    n, C = stop - start, rows.shape[1]
    exponentials = scratch[:n * C].reshape((n, C))
    maxima = np.full(n, -np.inf, rows.dtype)  # each row's max starts at −inf in the rows' dtype
    finite = np.empty(n, np.bool_)
    firsts = np.zeros(n if with_firsts else 0, np.intp)
    for r in range(n):
        if with_firsts:
            largest, _, firsts[r] = short_row_max(rows, start + r, maxima[r])
        else:
            largest = short_row_largest(rows, start + r, maxima[r])
        maxima[r] = largest
        for k in range(C):
            exponentials[r, k] = rows[start + r, k] - largest
    flat = exponentials.reshape(n * C)
    for e in range(n * C):
        flat[e] = fast_exp_nonpositive(flat[e])
    below_max = np.empty(n, np.float64)
    one = exponentials.dtype.type(1)
    for r in range(n):
        # exp(z_k − max) = 1 at the max, and where z_k is so close to it that exp rounds to 1:
        # either way Σ_{k≠a} = below + (ones − 1)
        below, ones = one - one, one - one
        for k in range(C):
            value = exponentials[r, k]
            below += one - one if value == one else value
            ones += value if value == one else one - one
        below_max[r] = np.float64(below) + (np.float64(ones) - 1)
    for r in range(n):
        finite[r] = -np.inf < maxima[r] < np.inf and below_max[r] == below_max[r]
    log1p_below_max = np.empty(n if with_log1p else 0, np.float64)
    for r in range(log1p_below_max.shape[0]):
        log1p_below_max[r] = fast_log1p(below_max[r])
    return Run(exponentials, maxima, finite, firsts, below_max, log1p_below_max)


def row_max_of_run(rows, i, start, run):
    """row_max(rows, i), or what run_exponentials found for it (run: its result; a long row's
    None or scratch row, see long_row)."""
    return row_max(rows, i)


@numba.extending.overload(row_max_of_run, inline='always')
def _row_max_of_run_typed(rows, i, start, run):
    if long_row(run):
        return lambda rows, i, start, run: row_max(rows, i)
    return lambda rows, i, start, run: (run.maxima[i - start], run.finite[i - start])


def first_index_of_run(rows, i, mx, start, run):
    """first_index(rows, i, mx), or what run_exponentials found for it (run: its result; a long
    row's None or scratch row)."""
    return first_index(rows, i, mx)


@numba.extending.overload(first_index_of_run, inline='always')
def _first_index_of_run_typed(rows, i, mx, start, run):
    if long_row(run):
        return lambda rows, i, mx, start, run: first_index(rows, i, mx)
    return lambda rows, i, mx, start, run: run.firsts[i - start]


def sum_below_max_of_run(total, run, r):
    """Σ_{k≠a} exp(z_k − max) of a row, ``total`` as its reduction pass found it, or what
    run_exponentials found for it (run: its result; a long row's None or scratch row), row r of
    its run. With a run, the pass's own sum is never read, and LLVM drops it."""
    return total


@numba.extending.overload(sum_below_max_of_run, inline='always')
def _sum_below_max_of_run_typed(total, run, r):
    if long_row(run):
        return lambda total, run, r: total
    return lambda total, run, r: run.below_max[r]


def log1p_of_run(value, run, r):
    """log1p(value) for value a row's Σ_{k≠a} exp(z_k − max), or what run_exponentials found for
    it (run: its result; a long row's None or scratch row), row r of its run."""
    return math.log1p(value)


@numba.extending.overload(log1p_of_run, inline='always')
def _log1p_of_run_typed(value, run, r):
    if long_row(run):
        return lambda value, run, r: fast_log1p(value)
    return lambda value, run, r: run.log1p_below_max[r]


def store_exponential(buffer, i, k, value, run):
    """Keeps value, an exponential pass 2 computes for pass 3: in buffer[i, k] for a long row
    (run None), in run[k] for a long row whose output is streamed (run its scratch row); a short
    row's stay in run_exponentials' result (run), and copying them was 4 % of the 65536 × 10
    kernel."""
    buffer[i, k] = value


@numba.extending.overload(store_exponential, inline='always')
def _store_exponential_typed(buffer, i, k, value, run):
    if isinstance(run, numba.types.NoneType):
        def store(buffer, i, k, value, run):
            buffer[i, k] = value
        return store
    if isinstance(run, numba.types.Array):
        def keep(buffer, i, k, value, run):
            run[k] = value
        return keep
    return lambda buffer, i, k, value, run: None


def stored_exponential(buffer, i, k, run, r):
    """The exponential store_exponential kept: buffer[i, k], run[k] (a scratch row), or entry
    (r, k) of run_exponentials' result."""
    return buffer[i, k]


@numba.extending.overload(stored_exponential, inline='always')
def _stored_exponential_typed(buffer, i, k, run, r):
    if isinstance(run, numba.types.NoneType):
        return lambda buffer, i, k, run, r: buffer[i, k]
    if isinstance(run, numba.types.Array):
        return lambda buffer, i, k, run, r: run[k]
    return lambda buffer, i, k, run, r: run.exponentials[r, k]


def kept_exponentials(buffer, run):
    """The array store_exponential keeps a long row's exponentials in: buffer (read at [i, k]) or
    the scratch row run (read at [k]); run_exponentials' for short rows."""
    return buffer


@numba.extending.overload(kept_exponentials, inline='always')
def _kept_exponentials_typed(buffer, run):
    if isinstance(run, numba.types.NoneType):
        return lambda buffer, run: buffer
    if isinstance(run, numba.types.Array):
        return lambda buffer, run: run
    return lambda buffer, run: run.exponentials


def exp_below_max(value, mx, run, r, k):
    """exp(value − mx) for value ≤ mx, or the same number from run_exponentials (run: its result;
    a long row's None or scratch row), entry (r, k) of its run."""
    return math.exp(value - mx)


@numba.extending.overload(exp_below_max, inline='always')
def _exp_below_max_typed(value, mx, run, r, k):
    if long_row(run):
        return lambda value, mx, run, r, k: fast_exp_nonpositive(value - mx)
    return lambda value, mx, run, r, k: run.exponentials[r, k]
''',
    "long_row": '''\
def long_row(run):
    """Whether a row function compiled for ``run``, the numba type of its row-length argument,
    works on long rows: None (pass 2 keeps the exponentials in the output row) or a scratch row
    (kept there, and the output row written with non-temporal stores: write_row); not for
    run_exponentials' result (short rows) or True (the in-place twin of a kernel without
    exponentials, on short rows)."""
    return isinstance(run, (numba.types.NoneType, numba.types.Array))
''',
    "write_row": '''\
#: bytes in a cache line: one vector store of write_row
LINE = 64

#: the fast-math flags of write_row's arithmetic, those of the kernels ({FASTMATH})
ROW_FLAGS = ("reassoc", "contract")


def _row_writable(out, terms, ahead, run):
    """Whether write_row writes the row: a long row (long_row), every array C-contiguous, the
    factors in the output's dtype, the prefetched arrays 2-D."""
    factors = [factor for term in terms for factor in tuple(term)[1:]]
    return (long_row(run) and isinstance(out, numba.types.Array) and out.ndim == 2 and out.layout == "C"
            and out.dtype in (numba.types.float32, numba.types.float64)
            and all(isinstance(f, numba.types.Array) and f.layout == "C" and f.dtype == out.dtype
                    and f.ndim in (1, 2) for f in factors)
            and all(isinstance(a, numba.types.Array) and a.layout == "C" and a.ndim == 2 for a in ahead))


@numba.extending.intrinsic
def write_row(typingctx, out, i, terms, ahead, run):
    """out[i, j] = Σ_term coefficient · Π_factor factor[j] for every class j of a long row, and
    True; False, writing nothing, where the caller's own loop must run (short rows, arrays this
    does not take: see _row_writable). ``terms``: ((coefficient, factor, …), …), a coefficient in
    the output's dtype, a factor a 1-D array read at [j] (w_j, a scratch row of exponentials) or a
    2-D one read at [i, j] (y_ij, exponentials kept in the output); ``ahead``: 2-D arrays whose
    row i + 1 the next row's first pass reads (the logits, probability targets).

    Written as LLVM IR, a vector a cache line wide, for two things LLVM's vectoriser does not do:
    - it prefetches row i + 1 of each array in ``ahead`` into L2, one line per line written, so
      the next row's max pass reads it from cache while this pass's stores drain (in place at
      8192 × 32000 float32: 97-99 → 84-85 ms);
    - with ``run`` a scratch row (the output a buffer of the caller's, not the logits), it writes
      each aligned line with a non-temporal store, which does not read the line first: an
      ordinary store's read-for-ownership moved half as much again (out= at 8192 × 32000
      float32: 127-133 → 96-99 ms). numba cannot mark a store non-temporal, and LLVM's
      vectoriser does not widen one it cannot prove aligned. A fresh buffer (run None) is written with ordinary
      stores: non-temporal ones were slower there (198-205 against 161-179 ms, the pages faulted
      in as they are written). The caller fences once after its rows (store_fence).
    The elements before the row's first 64-byte boundary and after its last whole line take the
    same arithmetic one at a time: the same sum of products in the same order as the vector
    lanes (ROW_FLAGS, as the kernels' own)."""
    writable = _row_writable(out, terms, ahead, run)
    streamed = isinstance(run, numba.types.Array)

    def codegen(context, builder, signature, args):
        if not writable:
            return context.get_constant(numba.types.boolean, False)
        out_type, index_type, terms_type, ahead_type, _ = signature.args
        intp = context.get_value_type(numba.types.intp)
        zero, one = ir.Constant(intp, 0), ir.Constant(intp, 1)
        element = context.get_data_type(out_type.dtype)
        size = context.get_abi_sizeof(element)
        lanes = LINE // size
        vector = ir.VectorType(element, lanes)
        i = context.cast(builder, args[1], index_type, numba.types.intp)
        out = context.make_array(out_type)(context, builder, args[0])
        _, C = cgutils.unpack_tuple(builder, out.shape, 2)
        row = cgutils.get_item_pointer(context, builder, out_type, out, [i, zero])

        def splat(value):
            lane0 = builder.insert_element(ir.Constant(vector, ir.Undefined), value, ir.Constant(ir.IntType(32), 0))
            return builder.shuffle_vector(lane0, ir.Constant(vector, ir.Undefined),
                                          ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes))

        terms = []
        for n, term_type in enumerate(terms_type):
            term = builder.extract_value(args[2], n)
            coefficient = context.cast(builder, builder.extract_value(term, 0), term_type[0], out_type.dtype)
            starts = []
            for m, factor_type in enumerate(tuple(term_type)[1:], start=1):
                factor = context.make_array(factor_type)(context, builder, builder.extract_value(term, m))
                at = [i, zero] if factor_type.ndim == 2 else [zero]
                starts.append(cgutils.get_item_pointer(context, builder, factor_type, factor, at))
            terms.append((coefficient, splat(coefficient), starts))
        upcoming = []
        for n, array_type in enumerate(ahead_type):
            array = context.make_array(array_type)(context, builder, builder.extract_value(args[3], n))
            last = builder.sub(cgutils.unpack_tuple(builder, array.shape, 2)[0], one)
            following = builder.select(builder.icmp_signed("<", i, last), builder.add(i, one), last)
            upcoming.append(cgutils.get_item_pointer(context, builder, array_type, array, [following, zero]))

        def value(j, lanes_type, coefficient_of):
            total = None
            for coefficient, splatted, starts in terms:
                product = coefficient_of(coefficient, splatted)
                for start in starts:
                    address = builder.bitcast(builder.gep(start, [j]), lanes_type.as_pointer())
                    product = builder.fmul(product, builder.load(address, align=size), flags=ROW_FLAGS)
                total = product if total is None else builder.fadd(total, product, flags=ROW_FLAGS)
            return total

        def one_at_a_time(first, stop):
            with cgutils.for_range_slice(builder, first, stop, one) as (j, _):
                builder.store(value(j, element, lambda scalar, splatted: scalar), builder.gep(row, [j]))

        # the first element on a 64-byte boundary; none for a row not even aligned to its elements
        address = builder.ptrtoint(row, intp)
        to_boundary = builder.udiv(builder.and_(builder.neg(address), ir.Constant(intp, LINE - 1)), ir.Constant(intp, size))
        aligned = builder.icmp_unsigned("==", builder.urem(address, ir.Constant(intp, size)), zero)
        head = builder.select(aligned, builder.select(builder.icmp_signed("<", to_boundary, C), to_boundary, C), C)
        body_end = builder.add(head, builder.mul(builder.sdiv(builder.sub(C, head), ir.Constant(intp, lanes)),
                                                 ir.Constant(intp, lanes)))
        one_at_a_time(zero, head)
        prefetch = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()] + [ir.IntType(32)] * 3),
            "llvm.prefetch.p0i8")
        with cgutils.for_range_slice(builder, head, body_end, ir.Constant(intp, lanes)) as (k, _):
            for start in upcoming:
                # read, locality 2 (L2: a long row does not fit in L1), data
                builder.call(prefetch, [builder.bitcast(builder.gep(start, [k]), ir.IntType(8).as_pointer()),
                                        ir.Constant(ir.IntType(32), 0), ir.Constant(ir.IntType(32), 2),
                                        ir.Constant(ir.IntType(32), 1)])
            line = value(k, vector, lambda scalar, splatted: splatted)
            store = builder.store(line, builder.bitcast(builder.gep(row, [k]), vector.as_pointer()), align=LINE)
            if streamed:
                store.set_metadata("nontemporal", builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)]))
        one_at_a_time(body_end, C)
        return context.get_constant(numba.types.boolean, True)
    return numba.types.boolean(out, i, terms, ahead, run), codegen


@numba.extending.intrinsic
def store_fence(typingctx):
    """A full memory fence: the non-temporal stores of write_row are weakly ordered, and this
    makes them visible before what the calling thread does next (its part of a parallel loop ends)."""
    def codegen(context, builder, signature, args):
        builder.fence("seq_cst")
        return context.get_dummy_value()
    return numba.types.none(), codegen
''',
    "prefer_wide_vectors": '''\
#: LLVM's per-function attribute for 512-bit vectors
WIDE_VECTORS = '"prefer-vector-width"="512"'


@numba.extending.intrinsic
def prefer_wide_vectors(typingctx):
    """Marks the calling function for 512-bit vectors: LLVM's per-function attribute
    "prefer-vector-width"="512". LLVM prefers 256-bit vectors on most AVX-512 CPUs (this one
    included), and numba's way to change that (NUMBA_CPU_FEATURES) holds for every function in
    the process. A CPU without AVX-512 ignores the attribute. llvmlite's FunctionAttributes
    accept only keyword attributes, so the string attribute goes into the underlying set."""
    def codegen(context, builder, signature, args):
        set.add(builder.function.attributes, WIDE_VECTORS)
        return context.get_dummy_value()
    return numba.types.none(), codegen


@numba.extending.intrinsic
def prefer_wide_vectors_if_long(typingctx, short):
    """prefer_wide_vectors() in a row function compiled for long rows (its row-length argument
    ``short`` None or a scratch row, see long_row), nothing in one compiled for short rows
    (``short`` run_exponentials' result, or True). Decided by the argument's type: numba prunes
    `if x is None` at compile time only for None and literal arguments, and run_exponentials'
    result is neither."""
    def codegen(context, builder, signature, args):
        if long_row(signature.args[0]):
            set.add(builder.function.attributes, WIDE_VECTORS)
        return context.get_dummy_value()
    return numba.types.none(short), codegen
''',
    "xlogx": '''\
@numba.njit({JIT_OPTIONS})
def xlogx(v):
    """v·log v, and 0 at v = 0 (its limit) — torch's xlogy(v, v)."""
    return 0.0 if v == 0.0 else v * math.log(v)
''',
}


class KernelPrinter(PythonCodePrinter):
    """Prints a scalar SymPy expression as numba-compilable Python.

    ``names`` maps symbols to the code that reads them (``epsilon`` → ``label_smoothing``),
    ``arrays`` maps an IndexedBase to a format string with one ``{}`` for the index
    (``z`` → ``np.float64(logits[i, {}])``), ``fixed`` maps single elements to code that
    replaces the array read (a value loaded once, before the buffer it lives in is overwritten)
    and whole nodes to code that replaces them (a relation, a log1p computed ahead), and
    ``exponentials`` maps an element x to the code of exp(x) (an exponential computed once in
    the row's own dtype, or stored in an output buffer).
    """

    printmethod = "_numba_kernel"

    def __init__(self, names: Mapping[sp.Basic, str] | None = None,
                 arrays: Mapping[sp.IndexedBase, str] | None = None,
                 fixed: Mapping[sp.Basic, str] | None = None,
                 exponentials: Mapping[sp.Indexed, str] | None = None):
        super().__init__({"strict": True, "fully_qualified_modules": True})
        self._names = dict(names or {})
        self._arrays = dict(arrays or {})
        self._fixed = dict(fixed or {})
        self._exponentials = dict(exponentials or {})

    def with_elements(self, fixed: Mapping[sp.Basic, str] | None = None,
                      exponentials: Mapping[sp.Indexed, str] | None = None,
                      names: Mapping[sp.Basic, str] | None = None) -> "KernelPrinter":
        """This printer with more ``fixed`` elements (or relations), ``exponentials`` and ``names``
        (those given win)."""
        return KernelPrinter({**self._names, **(names or {})}, self._arrays, {**self._fixed, **(fixed or {})},
                             {**self._exponentials, **(exponentials or {})})

    def emptyPrinter(self, expr):
        raise UnsupportedNode(f"the kernel printer cannot print {type(expr).__name__}: {expr}")

    # ----- atoms ------------------------------------------------------------------------
    def _print_Symbol(self, expr):
        return self._names.get(expr, expr.name)

    def _print_Relational(self, expr):
        if expr in self._fixed:
            return self._fixed[expr]
        return super()._print_Relational(expr)

    def _print_Dummy(self, expr):
        raise UnsupportedNode(f"dummy symbol {expr} in a kernel body")

    def _print_Indexed(self, expr):
        if expr in self._fixed:
            return self._fixed[expr]
        if expr.base not in self._arrays:
            raise UnsupportedNode(f"no array is bound to {expr.base} (in {expr})")
        index, = expr.indices
        return self._arrays[expr.base].format(self._print(index))

    def _print_Integer(self, expr):
        return str(int(expr))

    def _print_Rational(self, expr):
        return f"{int(expr.p)}.0/{int(expr.q)}.0"

    def _print_Float(self, expr):
        return repr(float(expr))

    def _print_Half(self, expr):
        return "0.5"

    def _print_NegativeOne(self, expr):
        return "-1"

    def _print_Exp1(self, expr):
        return "math.e"

    def _print_Infinity(self, expr):
        return "math.inf"

    def _print_NegativeInfinity(self, expr):
        return "-math.inf"

    # ----- functions --------------------------------------------------------------------
    def _print_math(self, expr):
        return f"{MATH_FUNCTIONS[type(expr).__name__]}({self._print(expr.args[0])})"

    _print_log = _print_expm1 = _print_sqrt = _print_tanh = _print_math

    def _print_log1p(self, expr):
        if expr in self._fixed:
            return self._fixed[expr]
        return f"fast_log1p({self._print(expr.args[0])})"

    def _print_exp(self, expr):
        argument = expr.args[0]
        if argument in self._exponentials:
            return self._exponentials[argument]
        helper = "fast_exp_nonpositive" if argument.is_nonpositive else "fast_exp"
        return f"{helper}({self._print(argument)})"

    def _print_Abs(self, expr):
        return f"abs({self._print(expr.args[0])})"

    def _print_Max(self, expr):
        return "max(" + ", ".join(self._print(sp.Float(a) if a.is_Number else a) for a in expr.args) + ")"

    def _print_Min(self, expr):
        return "min(" + ", ".join(self._print(sp.Float(a) if a.is_Number else a) for a in expr.args) + ")"

    def _print_XLogX(self, expr):
        return f"xlogx({self._print(expr.args[0])})"

    def _print_KroneckerDelta(self, expr):
        left, right = (self._print(a) for a in expr.args)
        return f"(1.0 if {left} == {right} else 0.0)"

    def _print_Piecewise(self, expr):
        *pieces, (last, cond) = expr.args
        if cond != sp.true:
            raise UnsupportedNode(f"a Piecewise without an otherwise branch: {expr}")
        out = self._print(last)
        for value, condition in reversed(pieces):
            out = f"({self._print(value)} if {self._print(condition)} else {out})"
        return out

    # ----- refused explicitly (PythonCodePrinter would print a slow or wrong form) ------
    def _print_unsupported(self, expr):
        raise UnsupportedNode(f"the kernel printer cannot print {type(expr).__name__}: {expr}")

    _print_Sum = _print_Product = _print_Integral = _print_Derivative = _print_unsupported
    _print_Function = _print_Lambda = _print_MatrixBase = _print_unsupported


def runtime_source() -> str:
    """The body of ``symce.generated.runtime``: every helper the kernels call, defined once."""
    sources = (source() if callable(source) else source for _, source in sorted(HELPERS.items()))
    return "\n\n".join(sources).replace("{JIT_OPTIONS}", JIT_OPTIONS).replace("{FASTMATH}", FASTMATH)


def runtime_names(code: str) -> list[str]:
    """The runtime functions that ``code`` calls, sorted."""
    defined = re.findall(r"^def (\w+)\(", runtime_source(), flags=re.MULTILINE)
    return sorted(name for name in set(defined) if re.search(rf"\b{name}\(", code))
