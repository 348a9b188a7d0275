"""symce.runtime as a module: the float constants, the vectorisable exp/log1p at their ends, the row
max and first index, a run's exponentials, write_row against NumPy, the LLVM a row function gets;
σ as the kernels write it out. (The polynomials' accuracy: test_polynomials.py.)"""
from __future__ import annotations

import functools
import math
import re

import mpmath
import numba
import numpy as np
import pytest
import sympy as sp

import symce.runtime
from symce import layout
from symce.codegen.printer import KernelPrinter, Sigmoid, sigmoids_written_out
from symce.runtime import fitted, floats, rows, runs
from symce.runtime.write_row import LINE, store_fence, write_row

ULP = {"float32": float(np.finfo(np.float32).eps), "float64": float(np.finfo(np.float64).eps)}


@numba.njit
def _exp(x):
    return fitted.fast_exp(x)


@numba.njit
def _exp_nonpositive(x):
    return fitted.fast_exp_nonpositive(x)


@numba.njit
def _log1p(x):
    return fitted.fast_log1p(x)


@numba.njit
def _row_max_of_rows(array, i):
    return rows.row_max(array, i)


def _row_max(row):
    """row_max of the one row in the middle of three, so a wrong row index would show."""
    array = np.stack([np.full_like(row, 7.0), row, np.full_like(row, np.nan)])
    return _row_max_of_rows(array, 1)


@pytest.mark.parametrize("constants, dtype", [(floats.FLOAT32, np.float32), (floats.FLOAT64, np.float64)])
def test_float_constants_are_those_of_their_type(constants, dtype):
    """Each constant in its own type, against mpmath and the type's layout: ln 2 split so that
    n·ln2_high is exact, the rounding constant 1.5·2^mantissa, K with 2^(n + K) normal down to the
    underflow clamp, and the clamps just past the finite range of exp."""
    assert all(isinstance(value, (dtype, np.signedinteger)) for value in constants)
    info = np.finfo(dtype)
    with mpmath.workdps(40):
        ln2 = mpmath.log(2)
        assert constants.ln2_low == dtype(float(ln2 - mpmath.mpf(float(constants.ln2_high))))  # the rest, rounded
    low_bits = np.array(constants.ln2_high).view(np.int32 if dtype == np.float32 else np.int64) & 0xFF
    assert low_bits == 0  # trailing zero bits: n·ln2_high is exact
    assert constants.inverse_ln2 == dtype(1 / math.log(2))
    assert constants.mantissa_bits == info.nmant and constants.exponent_bias == info.maxexp - 1
    assert constants.mantissa_mask == 2 ** info.nmant - 1
    assert constants.rounding == 1.5 * 2.0 ** info.nmant and constants.sqrt2 == dtype(math.sqrt(2))
    offset = 1 - int(constants.exponent_bias) - math.floor(float(constants.underflow) / math.log(2))
    assert constants.unscale == 2.0 ** -offset
    rounding_bits = int(np.array(constants.rounding).view(np.int32 if dtype == np.float32 else np.int64))
    # 2^(n + K)'s bits: (bits(t) + scale_bias) << mantissa, t's bits the constant's plus n
    assert ((rounding_bits + int(constants.scale_bias)) << info.nmant) % 2 ** info.bits \
        == (int(constants.exponent_bias) + offset) << info.nmant
    assert constants.overflow - 1 < math.log(float(info.max)) < constants.overflow
    assert constants.underflow < math.log(float(info.smallest_subnormal)) - math.log(2) < constants.underflow + 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("exp", [_exp, _exp_nonpositive])
def test_exp_keeps_ieee_meaning_at_the_ends(dtype, exp):
    # exp(0) = 1 exactly: the kernels' argmax term relies on it
    assert exp(dtype(0.0)) == 1.0 and exp(dtype(-0.0)) == 1.0
    assert exp(dtype(-np.inf)) == 0.0 and exp(dtype(-1000.0)) == 0.0
    assert np.isnan(exp(dtype(np.nan)))
    # a subnormal result is rounded once, as libm does
    tiny = -745.0 if dtype == np.float64 else -103.0
    assert exp(dtype(tiny)) == np.exp(dtype(tiny))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("exp", [_exp, _exp_nonpositive])
def test_exp_of_a_subnormal_result_is_within_one_step_of_mpmath(dtype, exp):
    """Across the whole subnormal range, where the relative error measure leaves off: the result
    is mpmath's exp rounded to the subnormal grid, give or take one step (the polynomial's own
    error can flip a rounding at a midpoint), so the 2^n scaling rounds once and in the right place."""
    info = np.finfo(dtype)
    step = mpmath.mpf(float(info.smallest_subnormal))
    low, high = math.log(float(info.smallest_subnormal)) + 0.01, math.log(float(info.tiny)) - 0.01
    for x in np.linspace(low, high, 1001).astype(dtype):
        nearest = mpmath.nint(mpmath.exp(mpmath.mpf(float(x))) / step) * step
        assert abs(mpmath.mpf(float(exp(x))) - nearest) <= step, x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_overflows_to_inf(dtype):
    assert _exp(dtype(np.inf)) == np.inf and _exp(dtype(1000.0)) == np.inf


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log1p_keeps_ieee_meaning_at_the_ends(dtype):
    assert _log1p(dtype(-1.0)) == -np.inf
    assert np.isnan(_log1p(dtype(-2.0))) and np.isnan(_log1p(dtype(np.nan)))
    assert _log1p(dtype(np.inf)) == np.inf
    assert _log1p(dtype(1e-30)) == dtype(1e-30)  # log1p(x) = x to the last bit for tiny x
    assert _log1p(dtype(0.0)) == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [5, 40])
def test_row_max_reports_the_max_and_whether_the_row_is_clean(dtype, size):
    base = np.arange(size, dtype=dtype)

    def with_value(index, value):
        row = base.copy()
        row[index] = value
        return row

    assert _row_max(base) == (size - 1, True)
    assert _row_max(with_value(3, -np.inf)) == (size - 1, True)  # −inf entries are fine: exp(−inf) = 0
    assert _row_max(with_value(3, np.inf))[1] is False
    assert _row_max(with_value(1, np.nan))[1] is False
    assert _row_max(with_value(2, -np.nan))[1] is False  # a negative nan sorts below −inf
    assert _row_max(np.full(size, -np.inf, dtype))[1] is False
    assert _row_max(np.empty(0, dtype))[1] is False
    # the ends of the finite range, signed zeros and all-negative rows, against NumPy
    info = np.finfo(dtype)
    for row in (with_value(0, info.max), np.full(size, -info.max, dtype), -base - 1, base - base,
                -(base - base), with_value(size // 2, info.smallest_subnormal) - size,
                np.concatenate([np.full(size - 1, -np.inf, dtype), [-info.max]])):
        largest, clean = _row_max(row)
        assert clean and largest == row.max(), row


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [5, rows.SEARCH_BLOCK, 3 * rows.SEARCH_BLOCK + 7])
def test_first_index_finds_the_first_occurrence_in_any_block(dtype, size):
    """Where the value sits: the first or last entry of a block, a block's middle, the tail past
    the last whole block; with a second occurrence later on (the first wins), against NumPy."""
    block = rows.SEARCH_BLOCK
    places = {0, size - 1, size // 2} | {p for start in range(0, size, block) for p in (start, start - 1)}
    for place in sorted(p for p in places if 0 <= p < size):
        row = np.arange(size, dtype=dtype)
        row[place] = size
        row[min(place + block // 2 + 1, size - 1)] = size
        array = np.stack([np.zeros(size, dtype), row])
        assert rows.first_index(array, 1, dtype(size)) == np.flatnonzero(row == size)[0] == place


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_run_exponentials_are_each_rows_exp_below_its_max(dtype):
    """A run of short rows (the middle rows of a larger array, so a wrong offset would show) gets
    exp(z − max z) for each row within 2 ulps of mpmath (of the shift as the kernels take it, in
    the row's dtype), NumPy's max, and False for rows with inf or nan, whose exponentials the
    kernels never read; the first index of each row's max (the first of a tie); and
    Σ_{k≠a} exp(z_k − max) and its log1p, each within C + 2 ulps of mpmath's, relative, also
    where the sum is far below 1 (a confident row) or a tie puts a second 1 in it; asked for no
    log1p and no first indices, the same run without them (its maxima and finiteness found by
    the max-only loop)."""
    rng = np.random.default_rng(11)
    logits = (rng.standard_normal((9, 10)) * 30).astype(dtype)
    logits[3, 4], logits[4, 0], logits[5, 9], logits[6] = np.inf, np.nan, -np.inf, -np.inf
    logits[7, 2] = logits[7, 5] = logits[7].max()  # a tied max
    logits[2] = np.arange(10, dtype=dtype) * -12  # confident: Σ_{k≠a} ≈ 6e-6
    scratch = np.full(6 * 10 + 3, np.nan, dtype)  # longer than the run needs
    run = runs.run_exponentials(logits, 2, 8, scratch, True, True)
    exponentials, maxima, finite, firsts, below_max, log1p_below_max = run
    assert np.shares_memory(exponentials, scratch)
    assert exponentials.shape == (6, 10) and exponentials.dtype == dtype
    np.testing.assert_array_equal(finite, [True, False, False, True, False, True])
    ulp = ULP[np.dtype(dtype).name]
    for r, row in enumerate(logits[2:8]):
        if not finite[r]:
            continue
        assert maxima[r] == row.max()
        assert firsts[r] == np.flatnonzero(row == row.max())[0]
        shifted = [mpmath.mpf(float(z - row.max())) for z in row]
        for k, exact in enumerate(map(mpmath.exp, shifted)):
            assert abs(exponentials[r, k] - float(exact)) <= 2 * ulp * float(exact)
        with mpmath.workdps(40):
            others = mpmath.fsum(mpmath.exp(v) for n, v in enumerate(shifted) if n != firsts[r])
            for got, exact in ((below_max[r], others), (log1p_below_max[r], mpmath.log1p(others))):
                assert abs(got - exact) <= (row.size + 2) * ulp * abs(exact)
    without = runs.run_exponentials(logits, 2, 8, np.empty_like(scratch), False, False)
    assert without.log1p_below_max.size == 0  # a kernel that reads no log1p (softmax) gets none
    assert without.firsts.size == 0  # nor first indices, where no row reads the argmax
    for got, expected in ((without.exponentials, exponentials), (without.maxima, maxima), (without.finite, finite),
                          (without.below_max, below_max)):
        np.testing.assert_array_equal(got, expected)


def test_run_exponentials_sums_vectorise_whoever_compiles_it_first():
    """run_exponentials states its fastmath flags. Without them numba takes its first caller's: first
    called from Python (as a test does), it was built without reassoc, its row sums stayed scalar,
    and every kernel then reused that build from the cache. Compiled here from Python, as it is
    declared, its sums are reassociable vector adds."""
    options = {name: value for name, value in runs.run_exponentials.targetoptions.items() if name != "nopython"}
    fresh = numba.njit(**options)(runs.run_exponentials.py_func)
    fresh(np.zeros((4, 10)), 0, 4, np.empty(40), True, False)
    assert re.search(r"fadd reassoc contract <\d+ x double>", fresh.inspect_llvm(fresh.signatures[0]))


@functools.cache
def _compiled_sigmoid():
    """σ(v) as the kernels print it: written out through exp(−|v|), compiled by numba (once)."""
    v = sp.Symbol("v", real=True)
    code = KernelPrinter({v: "v"}).doprint(sigmoids_written_out(Sigmoid(v)))
    namespace = {name: getattr(symce.runtime, name) for name in symce.runtime.__all__}
    exec(f"def sigmoid(v):\n    return {code}\n", namespace)  # noqa: S102
    return numba.njit(error_model="numpy")(namespace["sigmoid"])


@pytest.mark.parametrize("v", [-800.0, -40.0, -1e-3, 0.0, 2.5, 40.0, 800.0])
def test_sigmoid_keeps_relative_precision_in_both_tails(v):
    with mpmath.workdps(40):
        exact = 1 / (1 + mpmath.exp(-mpmath.mpf(v)))
    got = _compiled_sigmoid()(v)
    if exact < 1e-300:
        assert got == 0.0
    else:
        assert abs(got - float(exact)) <= 2 * math.ulp(float(exact))


@functools.lru_cache
def _rows_llvm(classes: int, in_place: bool, streamed: bool = False) -> str:
    """The LLVM IR of a cross-entropy row function (the in-place twin or the one with a gradient
    buffer, ``streamed`` from a scratch row), compiled as its kernel calls it on rows of ``classes``."""
    from symce.generated import cross_entropy

    logits, labels, scale = np.zeros((2, classes)), np.zeros(2, np.int64), np.ones(1)
    run = runs.run_exponentials(logits, 0, 2, np.empty(2 * classes), True, True) if classes < layout.LONG_ROWS \
        else np.empty(classes) if streamed else None
    buffers = () if in_place else (np.empty((2, classes)),)
    arguments = (0, 2, logits, labels, None, 0.0, -100, scale, np.empty(2), *buffers, False, run)
    types = tuple(numba.typeof(a) for a in arguments)
    cached = (cross_entropy._softmax_cross_entropy_with_integer_labels_forward_backward_rows_in_place if in_place
              else cross_entropy._softmax_cross_entropy_with_integer_labels_forward_backward_rows)
    # numba cannot show the IR of cached code: the same function, compiled afresh
    options = {name: value for name, value in cached.targetoptions.items() if name != "nopython"}
    function = numba.njit(**options)(cached.py_func)
    function.compile(types)
    return function.inspect_llvm(types)


@pytest.mark.parametrize("in_place", [True, False])
def test_row_functions_prefer_512_bit_vectors_only_when_long(in_place):
    """prefer_wide_vectors marks the row function compiled for long rows, and only that one: LLVM's
    attribute is on its definition, not on the one for rows shorter than a wide vector."""
    attribute = '"prefer-vector-width"="512"'
    assert attribute in _rows_llvm(layout.LONG_ROWS, in_place)
    assert attribute not in _rows_llvm(layout.LONG_ROWS - 1, in_place)


def test_a_streamed_row_function_alone_stores_past_the_cache():
    """write_row stores each line of a long row non-temporally (LLVM's !nontemporal) where pass 2
    kept the exponentials in a scratch row (the caller's buffer, streamed), and nowhere else: a fresh
    buffer and the input written over take ordinary stores. Every long row prefetches the next."""
    streamed, buffer, in_place = (_rows_llvm(layout.LONG_ROWS, False, streamed=True), _rows_llvm(layout.LONG_ROWS, False),
                                  _rows_llvm(layout.LONG_ROWS, True))
    assert "!nontemporal" in streamed
    assert "!nontemporal" not in buffer and "!nontemporal" not in in_place
    assert all("@llvm.prefetch" in ir for ir in (streamed, buffer, in_place))
    assert "@llvm.prefetch" not in _rows_llvm(layout.LONG_ROWS - 1, False)


@numba.njit
def _write_rows(out, terms, ahead, run):
    """write_row on every row of out, then the fence its caller runs; whether each row was written."""
    written = np.zeros(out.shape[0], np.bool_)
    for i in range(out.shape[0]):
        written[i] = write_row(out, i, terms, ahead, run)
    store_fence()
    return written


def _misaligned(shape, dtype, offset_bytes):
    """A C-contiguous array of ``shape`` whose data starts ``offset_bytes`` past a 64-byte boundary."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    raw = np.zeros(size + 2 * LINE, np.uint8)
    start = (-raw.ctypes.data) % LINE + offset_bytes
    return raw[start:start + size].view(dtype).reshape(shape)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("classes", [37, 1000])
@pytest.mark.parametrize("offset_bytes", [0, 8, 3])
@pytest.mark.parametrize("streamed", [False, True])
def test_write_row_writes_the_sum_of_products_numpy_computes(dtype, classes, offset_bytes, streamed):
    """out[i, j] = Σ_term coefficient · Π factor[j], a 1-D factor read at [j] and a 2-D one at [i, j],
    within an ulp or two of NumPy's float64 (write_row may fuse a product into an add): rows of a
    length that is not a multiple of the vector width, an output whose rows start on a 64-byte
    boundary, past one (8 bytes: the head taken one element at a time), or not even on an element
    (3 bytes: every element one at a time); the streamed path (a scratch row as ``run``) too.
    Every element is written: the output starts as nan."""
    rng = np.random.default_rng(classes + offset_bytes)
    rows_, ulp = 5, float(np.finfo(dtype).eps)
    y = rng.standard_normal((rows_, classes)).astype(dtype)
    w = rng.standard_normal(classes).astype(dtype)
    logits = rng.standard_normal((rows_, classes)).astype(dtype)
    out = _misaligned((rows_, classes), dtype, offset_bytes)
    out[:] = np.nan
    terms = ((dtype(1.5), y), (dtype(-0.25), w, y), (dtype(2.0), w))
    run = np.empty(classes, dtype) if streamed else None
    assert _write_rows(out, terms, (logits,), run).all()
    y64, w64 = y.astype(np.float64), w.astype(np.float64)
    expected = 1.5 * y64 + -0.25 * (w64 * y64) + 2.0 * w64
    magnitude = 1.5 * abs(y64) + 0.25 * abs(w64 * y64) + 2.0 * abs(w64)
    assert np.all(abs(out - expected) <= 3 * ulp * magnitude)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_write_row_declines_what_it_cannot_take(dtype):
    """False, and the output untouched, where the caller's own loop must run: rows compiled for a
    run of short rows (``run`` not None or a scratch row), an output that is not C-contiguous, a
    factor of another dtype, a prefetched array that is not 2-D."""
    y = np.ones((3, 64), dtype)
    other = np.ones((3, 64), np.float64 if dtype == np.float32 else np.float32)
    cases = [(np.zeros((3, 64), dtype), ((dtype(1.0), y),), (y,), True),
             (np.zeros((3, 128), dtype)[:, ::2], ((dtype(1.0), y),), (y,), None),
             (np.zeros((3, 64), dtype), ((dtype(1.0), other),), (y,), None),
             (np.zeros((3, 64), dtype), ((dtype(1.0), y),), (y[0],), None)]
    for out, terms, ahead, run in cases:
        assert not _write_rows(out, terms, ahead, run).any()
        assert not out.any()
