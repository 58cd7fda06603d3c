"""Project latent codes to 2 or 3 axes for plotting: scikit-learn's PCA, or the raw axes when the latent
has no more dimensions than the plot."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Projection:
    """How codes (N, D) map to plot axes (N, k) and back; ``pca`` is None when the raw axes are used."""

    latent_dim: int
    n_axes: int
    pca: object | None  # a fitted sklearn.decomposition.PCA

    @property
    def axis_labels(self) -> list[str]:
        if self.pca is None:
            return [f"z{i}" for i in range(self.n_axes)]
        ratio = self.pca.explained_variance_ratio_[: self.n_axes]
        return [f"PC{i + 1} ({100 * r:.1f}% of variance)" for i, r in enumerate(ratio)]

    @property
    def explained_variance_ratio(self) -> list[float] | None:
        return None if self.pca is None else [float(r) for r in self.pca.explained_variance_ratio_[: self.n_axes]]

    def leading(self, k: int) -> Projection:
        """The same fit restricted to its first k axes: PCA's leading components do not depend on how many
        were fitted, so one fit serves the 3-D and the 2-D plots."""
        if self.pca is None or k > self.n_axes:
            raise ValueError(f"cannot take {k} leading axes of this projection")
        return Projection(self.latent_dim, k, self.pca)

    def transform(self, latents: np.ndarray) -> np.ndarray:
        """Codes (N, D) → plot coordinates (N, n_axes)."""
        latents = np.asarray(latents, np.float64)
        if self.pca is None:
            return latents[:, : self.n_axes].copy()
        return self.pca.transform(latents)[:, : self.n_axes]

    def to_latent(self, coords: np.ndarray) -> np.ndarray:
        """Plot coordinates (M, n_axes) → codes (M, D) on the plotted plane or space (PCA: through the mean)."""
        coords = np.asarray(coords, np.float64)
        if self.pca is None:
            return coords[:, : self.latent_dim].copy()
        full = np.zeros((len(coords), self.pca.n_components_))  # the unplotted components stay at the mean
        full[:, : self.n_axes] = coords[:, : self.n_axes]
        return self.pca.inverse_transform(full)


def fit_projection(latents: np.ndarray, n_axes: int, seed: int = 0) -> Projection:
    """Fit PCA with ``n_axes`` components on latents (N, D); with D ≤ n_axes keep the D raw axes instead."""
    from sklearn.decomposition import PCA
    from threadpoolctl import threadpool_limits

    latents = np.asarray(latents, np.float64)
    d = latents.shape[1]
    if d <= n_axes:
        return Projection(d, d, None)
    if len(latents) < n_axes:
        raise ValueError(f"{n_axes} PCA axes need at least {n_axes} codes, got {len(latents)}")
    # Both solvers are exact and deterministic; with many more codes than dimensions (the usual case) the
    # D×D covariance's eigendecomposition is about 10× faster than the SVD of the whole (N, D) matrix.
    solver = "covariance_eigh" if len(latents) >= 10 * d else "full"
    # The products here are small; OpenBLAS starting its threads cost seconds on a busy 2-core machine
    # (measured: 3 s against 0.02 s on one thread), so the fit runs on one.
    with threadpool_limits(1, user_api="blas"):
        pca = PCA(n_components=n_axes, svd_solver=solver, random_state=seed).fit(latents)
    return Projection(d, n_axes, pca)


def plane_grid(coords: np.ndarray, n: int, quantile: float = 0.01) -> np.ndarray:
    """An n×n lattice (n, n, 2) over the central range of 2-D coords (N, 2): row 0 is the top (largest y).

    The range runs from the ``quantile`` to the 1-``quantile`` quantile on each axis, so a few outliers do
    not stretch the lattice into empty space.
    """
    coords = np.asarray(coords, np.float64)
    lo, hi = np.quantile(coords, quantile, axis=0), np.quantile(coords, 1.0 - quantile, axis=0)
    xs = np.linspace(lo[0], hi[0], n)
    ys = np.linspace(hi[1], lo[1], n)
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx, gy], axis=-1)
