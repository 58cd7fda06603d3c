"""Latent-space operations as pure array functions: interpolation paths, centroids."""
