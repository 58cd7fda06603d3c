"""Training: the run scaffold every loop shares (`loop`), the VAE's and the cycle-VAE's steps (`vae`, `cycle`),
the evaluator classifier (`classifier`), settings (`config`, `settings`), checkpoints and torchrun support."""
