"""``symce bench``: symce.functional against torch, its peers and a plain NumPy reference, in one run.

For each case (:mod:`.cases`: cross-entropy at four sizes, its options, binary cross-entropy with
logits) and dtype it times the forward and the fused forward+backward of torch (same thread count),
the peers torch.compile and JAX + optax (:mod:`.peers`), the NumPy reference (:mod:`.reference`)
and symce (fresh gradient, ``out=`` a reused buffer, in place), checks each result against torch's,
compares symce with torch and with the fastest peer, and each reading with the row's memory-traffic
bound (:mod:`.ratios`), and measures (:mod:`.measure`, :mod:`.memory`) the fraction of the machine's
copy bandwidth reached and the peak extra memory; with the start-up time of a new process and the
accuracy table of :mod:`symce.bench.accuracy` it makes one report (:mod:`.suite`), printed and
written as JSON, PNG and Markdown (:mod:`.report`). The command line is :mod:`.cli`;
benchmarks/README.md explains every column.
"""
