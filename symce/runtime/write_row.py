"""write_row: a long row's per-class output written as LLVM IR, a vector a cache line wide, for two
things LLVM's vectoriser does not do:

- it prefetches row i + 1 of the arrays the next row's first pass reads into L2, one line per
  line written, so that pass reads them from cache while this pass's stores drain;
- into a buffer of the caller's (a ``run`` scratch row), it writes each aligned line with a
  non-temporal store, which does not read the line first as an ordinary store does (numba cannot
  mark a store non-temporal, and LLVM's vectoriser does not widen one it cannot prove aligned). A
  fresh buffer (``run`` None), whose pages fault in as they are written, takes ordinary stores.
  The caller fences once after its rows (store_fence).

Measurements behind these choices: benchmarks/history/runtime.md.

Pointers: LLVM (22 here) has only opaque pointers, ``ptr``; numba builds its IR with llvmlite's
typed pointers, which LLVM reads as ``ptr``. So each address and load here names its element type
(``source_etype``, ``typ``: llvmlite's opaque-pointer API) and llvm.prefetch is declared on
``ptr`` (``llvm.prefetch.p0``); only a line's store casts its address to a vector pointer, as
llvmlite's store checks a typed pointer's pointee (a cast to ``ptr`` it drops, as equal).
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numba.extending
from llvmlite import ir
from numba.core import cgutils

from symce.runtime.rows import long_row

#: bytes in a cache line: one vector store of write_row
LINE = 64

#: the fast-math flags of write_row's arithmetic, those of the kernels (options.FASTMATH)
ROW_FLAGS = ("reassoc", "contract")

#: an LLVM opaque pointer, and the 32-bit integers of intrinsics' arguments
POINTER = ir.PointerType()
INT32 = ir.IntType(32)

#: llvm.prefetch's arguments after the address: read (0), locality 2 (L2: a long row does not fit
#: in L1), data (1)
PREFETCH_READ_L2_DATA = (ir.Constant(INT32, 0), ir.Constant(INT32, 2), ir.Constant(INT32, 1))


def _c_contiguous(array, dimensions, dtype=None) -> bool:
    """Whether the numba type ``array`` is a C-contiguous array of one of ``dimensions`` (and ``dtype``)."""
    return (isinstance(array, numba.types.Array) and array.layout == "C" and array.ndim in dimensions
            and (dtype is None or array.dtype == dtype))


def _row_writable(out, terms, ahead, run):
    """Whether write_row writes the row: a long row (long_row), every array C-contiguous, the
    factors in the output's dtype, the prefetched arrays 2-D."""
    factors = [factor for term in terms for factor in tuple(term)[1:]]
    return (long_row(run) and _c_contiguous(out, (2,)) and out.dtype in (numba.types.float32, numba.types.float64)
            and all(_c_contiguous(factor, (1, 2), out.dtype) for factor in factors)
            and all(_c_contiguous(array, (2,)) for array in ahead))


@dataclass
class _Row:
    """What the IR of one write_row call works with: row i of the output and its terms."""

    builder: ir.IRBuilder
    intp: ir.IntType
    element: ir.Type
    size: int
    vector: ir.VectorType
    row: ir.Value
    classes: ir.Value
    #: (coefficient, coefficient in every lane, the address of each factor's element 0 of the row)
    terms: list

    def constant(self, value: int) -> ir.Constant:
        return ir.Constant(self.intp, value)

    def splat(self, value: ir.Value) -> ir.Value:
        """value in every lane of a vector."""
        builder, lanes = self.builder, self.vector.count
        lane0 = builder.insert_element(ir.Constant(self.vector, ir.Undefined), value, ir.Constant(INT32, 0))
        return builder.shuffle_vector(lane0, ir.Constant(self.vector, ir.Undefined),
                                      ir.Constant(ir.VectorType(INT32, lanes), [0] * lanes))

    def value(self, j: ir.Value, vectorised: bool) -> ir.Value:
        """Σ_term coefficient · Π factor[j], of one element or of the vector starting at j, the
        sum of products in the same order either way."""
        builder, lanes_type = self.builder, self.vector if vectorised else self.element
        total = None
        for coefficient, splatted, starts in self.terms:
            product = splatted if vectorised else coefficient
            for start in starts:
                factor = builder.load(builder.gep(start, [j], source_etype=self.element), typ=lanes_type,
                                      align=self.size)
                product = builder.fmul(product, factor, flags=ROW_FLAGS)
            total = product if total is None else builder.fadd(total, product, flags=ROW_FLAGS)
        return total

    def one_at_a_time(self, first: ir.Value, stop: ir.Value) -> None:
        with cgutils.for_range_slice(self.builder, first, stop, self.constant(1)) as (j, _):
            self.builder.store(self.value(j, False), self.builder.gep(self.row, [j], source_etype=self.element))

    def line_bounds(self) -> tuple[ir.Value, ir.Value]:
        """(the first element on a 64-byte boundary, the end of the last whole line after it); for a
        row not even aligned to its elements, no lines (both the row's end)."""
        builder, C = self.builder, self.classes
        address = builder.ptrtoint(self.row, self.intp)
        to_boundary = builder.udiv(builder.and_(builder.neg(address), self.constant(LINE - 1)), self.constant(self.size))
        aligned = builder.icmp_unsigned("==", builder.urem(address, self.constant(self.size)), self.constant(0))
        head = builder.select(aligned, builder.select(builder.icmp_signed("<", to_boundary, C), to_boundary, C), C)
        lanes = self.constant(self.vector.count)
        return head, builder.add(head, builder.mul(builder.sdiv(builder.sub(C, head), lanes), lanes))

    def lines(self, head: ir.Value, body_end: ir.Value, upcoming: list, streamed: bool) -> None:
        """The whole lines from head to body_end: each prefetches the same line of the next row of
        every array in ``upcoming``, then is stored, non-temporally where ``streamed``."""
        builder = self.builder
        prefetch = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [POINTER, INT32, INT32, INT32]), "llvm.prefetch.p0")
        with cgutils.for_range_slice(builder, head, body_end, self.constant(self.vector.count)) as (k, _):
            for start in upcoming:
                builder.call(prefetch, [builder.gep(start, [k], source_etype=self.element), *PREFETCH_READ_L2_DATA])
            line = builder.bitcast(builder.gep(self.row, [k], source_etype=self.element), self.vector.as_pointer())
            store = builder.store(self.value(k, True), line, align=LINE)
            if streamed:
                store.set_metadata("nontemporal", builder.module.add_metadata([ir.Constant(INT32, 1)]))


def _terms(context, builder, out_type, i, terms_type, terms_value, splat) -> list:
    """Each term's (coefficient in the output's dtype, the same in every lane, the address of each
    factor's element 0 of row i: [i, 0] of a 2-D factor, [0] of a 1-D one)."""
    zero = context.get_constant(numba.types.intp, 0)
    terms = []
    for n, term_type in enumerate(terms_type):
        term = builder.extract_value(terms_value, n)
        coefficient = context.cast(builder, builder.extract_value(term, 0), term_type[0], out_type.dtype)
        starts = []
        for m, factor_type in enumerate(tuple(term_type)[1:], start=1):
            factor = context.make_array(factor_type)(context, builder, builder.extract_value(term, m))
            at = [i, zero] if factor_type.ndim == 2 else [zero]
            starts.append(cgutils.get_item_pointer(context, builder, factor_type, factor, at))
        terms.append((coefficient, splat(coefficient), starts))
    return terms


def _next_rows(context, builder, i, ahead_type, ahead_value) -> list:
    """The address of row i + 1 (row i on the last row) of each array in ``ahead``."""
    zero, one = context.get_constant(numba.types.intp, 0), context.get_constant(numba.types.intp, 1)
    upcoming = []
    for n, array_type in enumerate(ahead_type):
        array = context.make_array(array_type)(context, builder, builder.extract_value(ahead_value, n))
        last = builder.sub(cgutils.unpack_tuple(builder, array.shape, 2)[0], one)
        following = builder.select(builder.icmp_signed("<", i, last), builder.add(i, one), last)
        upcoming.append(cgutils.get_item_pointer(context, builder, array_type, array, [following, zero]))
    return upcoming


def _write(context, builder, signature, args, streamed: bool) -> None:
    out_type, index_type, terms_type, ahead_type, _ = signature.args
    intp = context.get_value_type(numba.types.intp)
    element = context.get_data_type(out_type.dtype)
    size = context.get_abi_sizeof(element)
    i = context.cast(builder, args[1], index_type, numba.types.intp)
    out = context.make_array(out_type)(context, builder, args[0])
    _, C = cgutils.unpack_tuple(builder, out.shape, 2)
    row = _Row(builder, intp, element, size, ir.VectorType(element, LINE // size),
               cgutils.get_item_pointer(context, builder, out_type, out, [i, ir.Constant(intp, 0)]), C, [])
    row.terms = _terms(context, builder, out_type, i, terms_type, args[2], row.splat)
    upcoming = _next_rows(context, builder, i, ahead_type, args[3])
    head, body_end = row.line_bounds()
    row.one_at_a_time(row.constant(0), head)
    row.lines(head, body_end, upcoming, streamed)
    row.one_at_a_time(body_end, C)


@numba.extending.intrinsic
def write_row(typingctx, out, i, terms, ahead, run):
    """out[i, j] = Σ_term coefficient · Π_factor factor[j] for every class j of a long row, and
    True; False, writing nothing, where the caller's own loop must run (short rows, arrays this
    does not take: see _row_writable). ``terms``: ((coefficient, factor, …), …), a coefficient in
    the output's dtype, a factor a 1-D array read at [j] (w_j, a scratch row of exponentials) or a
    2-D one read at [i, j] (y_ij, exponentials kept in the output); ``ahead``: 2-D arrays whose
    row i + 1 the next row's first pass reads (the logits, probability targets), prefetched;
    ``run`` a scratch row: the lines are stored non-temporally (see the module docstring).
    The elements before the row's first 64-byte boundary and after its last whole line take the
    same arithmetic one at a time: the same sum of products in the same order as the vector
    lanes (ROW_FLAGS, as the kernels' own)."""
    writable = _row_writable(out, terms, ahead, run)
    streamed = isinstance(run, numba.types.Array)

    def codegen(context, builder, signature, args):
        if writable:
            _write(context, builder, signature, args, streamed)
        return context.get_constant(numba.types.boolean, writable)
    return numba.types.boolean(out, i, terms, ahead, run), codegen


@numba.extending.intrinsic
def store_fence(typingctx):
    """A full memory fence: the non-temporal stores of write_row are weakly ordered, and this
    makes them visible before what the calling thread does next (its part of a parallel loop ends)."""
    def codegen(context, builder, signature, args):
        builder.fence("seq_cst")
        return context.get_dummy_value()
    return numba.types.none(), codegen
