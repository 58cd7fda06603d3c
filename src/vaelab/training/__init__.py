"""Training: the loop (`trainer`), test-set -ELBO (`evaluation`), checkpoints and the loss curve."""
