"""The settings `vaelab train` uses for a setting the command line leaves out, chosen by the data as the batch
size already is: on colour images, the recipe that measured best at an equal time budget (the recipe study in
docs/benchmarks/colour-recipe.md); on grey images, the fields' own defaults, which train the shipped
Fashion-MNIST model."""

from __future__ import annotations

# field name → value; each is a field of ModelConfig or TrainConfig, and its flag overrides it
COLOUR_RECIPE: dict[str, object] = {
    "likelihood": "gaussian-optimal",
    "freq_loss": 1.0,
}
GREY_RECIPE: dict[str, object] = {}


def recipe_for(channels: int) -> dict[str, object]:
    """The settings a new run on images of ``channels`` channels takes where no flag sets them."""
    return dict(COLOUR_RECIPE if channels == 3 else GREY_RECIPE)
