"""One definition for numpy and torch: ``ops_for(x)`` picks the namespace, so the CPU path, the training
losses and the GPU engine cannot drift apart.
"""
from __future__ import annotations

import numpy as np

try:  # torch is a core dependency, but keep the colour maths importable without it (tiny tools)
    import torch
except ImportError:  # pragma: no cover
    torch = None


# --------------------------------------------------------------------------------------------------------
# numpy / torch shim
# --------------------------------------------------------------------------------------------------------
class _NumpyOps:
    where = staticmethod(np.where)
    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    sqrt = staticmethod(np.sqrt)

    @staticmethod
    def pow(x, p):
        return np.power(x, p)

    @staticmethod
    def clip(x, lo=None, hi=None):
        return np.clip(x, lo, hi)

    @staticmethod
    def nan_to_num(x, posinf):
        """NaN and -inf -> 0, +inf -> ``posinf``: non-finite light must never reach an encoder."""
        return np.nan_to_num(x, nan=0.0, posinf=posinf, neginf=0.0)

    @staticmethod
    def asarray(x):
        x = np.asarray(x)
        return x if x.dtype.kind == "f" else x.astype(np.float64)

    @staticmethod
    def matmul_rgb(x, m):
        return x @ np.asarray(m, dtype=x.dtype).T


class _TorchOps:
    @staticmethod
    def where(c, a, b):
        return torch.where(c, a, b)

    exp = staticmethod(lambda x: torch.exp(x))
    log = staticmethod(lambda x: torch.log(x))
    sqrt = staticmethod(lambda x: torch.sqrt(x))

    @staticmethod
    def pow(x, p):
        return torch.pow(x, p)

    @staticmethod
    def clip(x, lo=None, hi=None):
        return torch.clamp(x, lo, hi)

    @staticmethod
    def nan_to_num(x, posinf):
        return torch.nan_to_num(x, nan=0.0, posinf=posinf, neginf=0.0)

    @staticmethod
    def asarray(x):
        return x if x.is_floating_point() else x.float()

    @staticmethod
    def matmul_rgb(x, m):
        # torch tensors follow the N x 3 x H x W layout of the operators.
        mt = torch.as_tensor(np.asarray(m), dtype=x.dtype, device=x.device)
        return torch.einsum("ij,...jhw->...ihw", mt, x)


def _ops(x):
    if torch is not None and isinstance(x, torch.Tensor):
        return _TorchOps
    return _NumpyOps


def _prepare(x):
    ops = _ops(x)
    return ops, ops.asarray(x)
