"""The names of the corrections that bring an arithmetic or attribute result back to the model's codes
(latent/landing.py applies them). Kept apart from it, without numpy, so that the command line can offer them as
choices without importing numpy on every start."""

from __future__ import annotations

CORRECTIONS = ("density", "norm", "none")
