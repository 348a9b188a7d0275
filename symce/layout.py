"""How the kernels split their work and pick their code paths: constants the code generator
(symce.codegen) writes into the kernels by name and the runtime (symce.runtime) reads, defined once.

The measurements behind each value are in benchmarks/history/codegen.md.
"""

#: elements per task (a chunk of elements, or of rows: at least one row): large enough to amortise
#: the call, small enough that the two cores share the work evenly
CHUNK = 16384

#: the shortest row a row kernel treats as long: a long row takes its own exponentials in a loop
#: over the row that vectorises, with 512-bit vectors; a shorter row never reaches a vector loop's
#: step, so its run of rows gets its exponentials from one flat loop first (``run_exponentials``)
#: and keeps the CPU's preferred vector width
LONG_ROWS = 32

#: the smallest buffer of the caller's (``out=``) that a kernel streams into (write_row's
#: non-temporal stores), and the shortest row: a smaller buffer stays in cache, where ordinary
#: stores are faster
STREAMED_BYTES = 64 * 2 ** 20
STREAMED_ROW_BYTES = 8 * 2 ** 10

__all__ = ["CHUNK", "LONG_ROWS", "STREAMED_BYTES", "STREAMED_ROW_BYTES"]
