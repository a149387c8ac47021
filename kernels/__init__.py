"""Fused Pallas kernels for the recurrent forward and backward passes (installed as ``rnnstab.kernels``).

Empty until issue 6: ``rnnstab.unroll(..., backend="scan")`` is the only backend so far, and "auto" maps to it.
"""
