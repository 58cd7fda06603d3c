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
    """Spherical interpolation: the direction walks the great circle from a's to b's at constant angular speed,
    (sin((1-t)Ω)·â + sin(tΩ)·b̂) / sin Ω on the unit vectors, and the norm moves linearly from |a| to |b|.

    For equal-norm endpoints (prior samples near the √d shell) this is the textbook formula on the vectors
    themselves. For unequal norms the textbook formula bulges: its midpoint is (a+b) / (2 cos(Ω/2)), which
    grows without bound as Ω nears 180° (two class centroids 171° apart, of norms 0.6 and 1.4, gave frames
    of norm 5.4). Parallel endpoints fall back to lerp; antipodal ones (where the great circle is not unique)
    turn through a fixed orthogonal direction. Neither gives NaN, and the result is continuous in a and b.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ts, scalar = _t_array(t)
    tt = _shape_t(ts, a.ndim)
    na = np.linalg.norm(a, axis=-1, keepdims=True)
    nb = np.linalg.norm(b, axis=-1, keepdims=True)
    ua, ub = a / np.maximum(na, _EPS), b / np.maximum(nb, _EPS)
    cos = np.clip(np.sum(ua * ub, axis=-1, keepdims=True), -1.0, 1.0)
    # The angle from the chord lengths: arccos(cos) loses half the digits near 0° and 180°.
    omega = 2.0 * np.arctan2(
        np.linalg.norm(ua - ub, axis=-1, keepdims=True), np.linalg.norm(ua + ub, axis=-1, keepdims=True)
    )
    sin = np.sin(omega)
    regular = sin > 1e-6
    safe_sin = np.where(regular, sin, 1.0)
    direction = (np.sin((1.0 - tt) * omega) * ua + np.sin(tt * omega) * ub) / safe_sin
    antipodal = ~regular & (cos <= 0)
    if antipodal.any():
        turn = np.cos(np.pi * tt) * ua + np.sin(np.pi * tt) * _orthogonal_unit(ua)
        direction = np.where(antipodal, turn, direction)
    out = direction * ((1.0 - tt) * na + tt * nb)
    straight = ~regular & (cos > 0) | (na < _EPS) | (nb < _EPS)  # parallel, or an endpoint at the origin
    if straight.any():
        out = np.where(straight, (1.0 - tt) * a + tt * b, out)
    out = _exact_ends(out, a, b, tt)
    return out[0] if scalar else out


def _exact_ends(out: np.ndarray, a: np.ndarray, b: np.ndarray, tt: np.ndarray) -> np.ndarray:
    """a at t = 0 and b at t = 1 exactly, whatever rounding the formula left there."""
    return np.where(tt == 0.0, a, np.where(tt == 1.0, b, out))


def cdf_lerp(a, b, t) -> np.ndarray:
    """Gaussian-CDF interpolation Φ⁻¹((1-t)·Φ(a) + t·Φ(b)), per coordinate: a straight line in the
    uniform space that N(0,1) coordinates map to, so every frame stays a typical prior sample.

    Coordinates in the upper tail are done as −cdf_lerp(−a, −b), which is the same formula, because Φ(x)
    rounds to 1 from x ≈ 8.3 on while Φ(−x) stays exact down to x ≈ 37: a plain autoencoder's codes can
    lie that far out."""
    from scipy.special import ndtr, ndtri  # scipy costs 0.4 s to import; only this method needs it

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ts, scalar = _t_array(t)
    flip = np.where(a + b > 0, -1.0, 1.0)
    p = lerp(ndtr(flip * a), ndtr(flip * b), ts)
    out = _exact_ends(flip * ndtri(np.clip(p, 1e-300, 1 - 1e-16)), a, b, _shape_t(ts, a.ndim))
    return out[0] if scalar else out


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

        raise VaelabError(
            f"{frames} frames are too few for {len(pts)} points: need at least {n_seg if closed else n_seg + 1}"
        )
    lengths = np.array([_segment_length(stops[i], stops[i + 1], method) for i in range(n_seg)])
    share = lengths / lengths.sum() * intervals if lengths.sum() > 0 else np.full(n_seg, intervals / n_seg)
    counts = np.maximum(1, np.floor(share).astype(int))
    while counts.sum() > intervals:
        # The max(1, …) can overshoot on very uneven paths. Take the frame from a segment that keeps one, so
        # that no waypoint is skipped.
        counts[np.argmax(np.where(counts > 1, counts - share, -np.inf))] -= 1
    for i in np.argsort(-(share - counts))[: intervals - counts.sum()]:  # largest remainders get the rest
        counts[i] += 1
    out = [interpolate(stops[i], stops[i + 1], np.arange(c) / c, method) for i, c in enumerate(counts)]
    if not closed:
        out.append(stops[-1][None])
    return np.concatenate(out)
