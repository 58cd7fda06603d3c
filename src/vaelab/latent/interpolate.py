"""Interpolation in latent space, as pure numpy functions (no torch, no files).

Shapes: endpoints ``a, b`` are (..., D); ``t`` is a scalar or a 1-D array (T,). With an array t the
result is (T, ..., D), with a scalar t it is (..., D). t is clipped to [0, 1].

Why slerp: a d-dimensional N(0, I) sample lies near the shell of radius √d, and the straight line
between two such samples cuts through the low-norm interior (its midpoint has norm ≈ √(d/2)), where
the decoder saw few codes. slerp follows the great circle instead and keeps the norm.
"""
from __future__ import annotations

import numpy as np

_EPS = 1e-7


def _t_array(t) -> tuple[np.ndarray, bool]:
    arr = np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0)
    return arr.reshape(-1), arr.ndim == 0


def _shape_t(t: np.ndarray, ndim: int) -> np.ndarray:
    return t.reshape((-1,) + (1,) * ndim)


def lerp(a, b, t) -> np.ndarray:
    """Straight line (1-t)·a + t·b."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ts, scalar = _t_array(t)
    tt = _shape_t(ts, a.ndim)
    out = (1.0 - tt) * a + tt * b
    return out[0] if scalar else out


def _orthogonal_unit(u: np.ndarray) -> np.ndarray:
    """A unit vector orthogonal to unit u (..., D), chosen deterministically (Gram-Schmidt on the axis
    where u is smallest)."""
    e = np.zeros_like(u)
    np.put_along_axis(e, np.argmin(np.abs(u), axis=-1)[..., None], 1.0, axis=-1)
    v = e - np.sum(e * u, axis=-1, keepdims=True) * u
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def slerp(a, b, t) -> np.ndarray:
    """Spherical interpolation: the angle comes from the unit vectors, the unnormalised vectors are combined
    (sin((1-t)Ω)·a + sin(tΩ)·b) / sin Ω, so equal-norm endpoints keep their norm all the way.

    Parallel endpoints fall back to lerp; antipodal ones (where the great circle is not unique) turn
    through a fixed orthogonal direction with the norm interpolated linearly. Neither gives NaN.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ts, scalar = _t_array(t)
    tt = _shape_t(ts, a.ndim)
    na = np.linalg.norm(a, axis=-1, keepdims=True)
    nb = np.linalg.norm(b, axis=-1, keepdims=True)
    ua, ub = a / np.maximum(na, _EPS), b / np.maximum(nb, _EPS)
    cos = np.clip(np.sum(ua * ub, axis=-1, keepdims=True), -1.0, 1.0)
    omega = np.arccos(cos)
    sin = np.sin(omega)
    regular = sin > 1e-6
    safe_sin = np.where(regular, sin, 1.0)
    out = (np.sin((1.0 - tt) * omega) * a + np.sin(tt * omega) * b) / safe_sin
    near_parallel = ~regular & (cos > 0)
    antipodal = ~regular & (cos <= 0)
    if near_parallel.any() or (na < _EPS).any() or (nb < _EPS).any():
        straight = (1.0 - tt) * a + tt * b
        out = np.where(near_parallel | (na < _EPS) | (nb < _EPS), straight, out)
    if antipodal.any():
        v = _orthogonal_unit(ua)
        turn = np.cos(np.pi * tt) * ua + np.sin(np.pi * tt) * v
        out = np.where(antipodal & (na >= _EPS) & (nb >= _EPS), turn * ((1.0 - tt) * na + tt * nb), out)
    return out[0] if scalar else out


def cdf_lerp(a, b, t) -> np.ndarray:
    """Gaussian-CDF interpolation Φ⁻¹((1-t)·Φ(a) + t·Φ(b)), per coordinate: a straight line in the
    uniform space that N(0,1) coordinates map to, so every frame stays a typical prior sample."""
    from scipy.special import ndtr, ndtri  # scipy costs 0.4 s to import; only this method needs it

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    p = lerp(ndtr(a), ndtr(b), t)
    return ndtri(np.clip(p, 1e-12, 1 - 1e-12))


METHODS = {"slerp": slerp, "lerp": lerp, "cdf": cdf_lerp}


def interpolate(a, b, t, method: str = "slerp") -> np.ndarray:
    """Dispatch to lerp / slerp / cdf by name."""
    if method not in METHODS:
        from vaelab.errors import VaelabError

        raise VaelabError(f"unknown interpolation method {method!r}; choose one of: {', '.join(METHODS)}")
    return METHODS[method](a, b, t)


def _segment_length(a: np.ndarray, b: np.ndarray, method: str, samples: int = 64) -> float:
    pts = interpolate(a, b, np.linspace(0.0, 1.0, samples + 1), method)
    return float(np.linalg.norm(np.diff(pts, axis=0), axis=-1).sum())


def path(points, frames: int, method: str = "slerp", closed: bool = False) -> np.ndarray:
    """Frames along a→b→c… (points: (K, D)) → (frames, D).

    Frames are spaced evenly along the path: each segment gets a share of the frames proportional to its
    length (measured along the chosen interpolation), every waypoint is itself a frame, and within a
    segment t is uniform. With ``closed`` the path returns to the first point, which is not repeated, so
    the frames loop seamlessly as a GIF.
    """
    pts = np.asarray(points, np.float64)
    if pts.ndim != 2 or len(pts) < 2:
        raise ValueError("path needs at least two points of shape (K, D)")
    stops = np.concatenate([pts, pts[:1]]) if closed else pts
    n_seg = len(stops) - 1
    intervals = frames if closed else frames - 1
    if intervals < n_seg:
        from vaelab.errors import VaelabError

        raise VaelabError(f"{frames} frames are too few for {len(pts)} points: need at least "
                          f"{n_seg if closed else n_seg + 1}")
    lengths = np.array([_segment_length(stops[i], stops[i + 1], method) for i in range(n_seg)])
    share = lengths / lengths.sum() * intervals if lengths.sum() > 0 else np.full(n_seg, intervals / n_seg)
    counts = np.maximum(1, np.floor(share).astype(int))
    while counts.sum() > intervals:  # the max(1, …) can overshoot on very uneven paths
        counts[np.argmax(counts - share)] -= 1
    for i in np.argsort(-(share - counts))[: intervals - counts.sum()]:  # largest remainders get the rest
        counts[i] += 1
    out = [interpolate(stops[i], stops[i + 1], np.arange(c) / c, method) for i, c in enumerate(counts)]
    if not closed:
        out.append(stops[-1][None])
    return np.concatenate(out)
