"""The kernel suite: one module per kernel, each with ``build(**size)`` returning a
:class:`compiler.ir.Graph`, ``inputs(rng, **size)`` returning random input tensors,
and ``SIZES`` (``"default"`` and ``"small"``, the two sizes the tests run). Every
module has a JSON twin ``NAME.json`` of its default size (``python -m terrazzo.kernels``
rewrites them)."""

import importlib

KERNELS = ("vector_add", "saxpy", "dot", "sum_squares", "reduce_max", "fused_relu",
           "outer", "gemv", "gemm", "conv1d", "prefix_sum", "tpch_q6")


def load(name):
    """The module of kernel ``name``."""
    if name not in KERNELS:
        raise KeyError(f"unknown kernel {name!r} (known: {', '.join(KERNELS)})")
    return importlib.import_module(f"{__name__}.{name}")
