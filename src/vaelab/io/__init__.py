"""Writing files safely: atomic writes (`atomic`), output folders staged and moved in whole (`staging`),
latent vector files (`vectors`)."""
