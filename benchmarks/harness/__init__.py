"""The benchmark harness, one idea per module.

- ``devices``: which devices and CPU thread counts a run measures.
- ``timing``: the interleaved timer (implementations compared in one run) and ``torch.utils.benchmark`` helpers.
- ``memory``: peak extra memory of one call.
- ``roofline``: a path's convolution FLOPs and the machine's best convolution rate, the bound of a speed-up.
- ``metadata``: machine, library and build facts, and the measured copy bandwidth, recorded with every result.
- ``checks``: every implementation against the reference before anything is timed.
- ``cases``: one benchmark point (:class:`~benchmarks.harness.cases.Case`) checked, timed and measured.
- ``inputs``: person-like silhouettes and probability maps, dtypes by name.
- ``sweep``: the points of a sweep and the loop over devices, threads and points.
- ``results``: the result JSON (schema, collector, loader); ``report``: its Markdown tables and PNG plots.
- ``cli_args``: the options every op benchmark shares.

The method contract (what is timed, how ratios are taken, what "effective GB/s" and "peak extra memory" mean, the
JSON schema) is written down in ``benchmarks/README.md``.
"""


class BenchmarkError(RuntimeError):
    """A benchmark could not run or an implementation gave a wrong answer."""
