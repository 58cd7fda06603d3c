"""`vaelab models`: the models that ship inside the package, with what each records of itself."""

from __future__ import annotations


def cmd_models(args) -> None:
    from vaelab.models.shipped import models_table, shipped_model_cards

    cards = shipped_model_cards()
    if not cards:
        print("no shipped models are installed; reinstall vaelab")
        return
    print(models_table(cards))
    print("give a name to --model (e.g. --model fashion-mnist) in place of a model folder")


def add(sub) -> None:
    p = sub.add_parser(
        "models",
        help="list the shipped models, which --model takes by name",
        description="List the models that ship inside the package: their data, image size, kind, latent size and "
        "the test figures their folders record (-ELBO in nats per image; PSNR, SSIM, sharpness and edge fidelity "
        "where an evaluation was saved with them; — where a folder does not record one), and where each folder is.",
    )
    p.set_defaults(func=cmd_models)
