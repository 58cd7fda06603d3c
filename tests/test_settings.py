"""Settings are defined once: the flags of `vaelab train` and `vaelab train-cycle`, their --help and the settings a
resumed run keeps are all made from the fields of ModelConfig, TrainConfig and CycleTrainConfig (and `vaelab sweep`'s
flags from SweepConfig's)."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from types import MappingProxyType

import pytest

from vaelab.cli import build_parser, main
from vaelab.errors import VaelabError
from vaelab.models.config import ModelConfig, model_json
from vaelab.training.config import CycleTrainConfig, SweepConfig, TrainConfig
from vaelab.training.settings import cli_fields, flag_of, run_settings_on_resume

# The command whose --help shows each config's settings.
COMMANDS = {
    TrainConfig: ("train",),
    CycleTrainConfig: ("train-cycle",),
    ModelConfig: ("train", "train-cycle"),
    SweepConfig: ("sweep",),
}
# the settings that a resumed run may change (train's --no-density too: the fit after training is not the run's);
# --precision and --compile say how a run computes, which a run moved to another machine may change
FREE_ON_RESUME = {"--epochs", "--device", "--pictures-every", "--precision", "--compile"}


def command(name: str):
    return build_parser().commands[name]


def squeezed(text: str) -> str:
    """``text`` without white space: argparse wraps --help at any space, and after any hyphen."""
    return "".join(text.split())


def flags_in(parser) -> dict:
    return {a.option_strings[-1]: a for a in parser._actions if a.option_strings}


@pytest.mark.parametrize("config", list(COMMANDS), ids=lambda c: c.__name__)
def test_every_setting_field_has_a_flag_with_its_help_in_its_commands(config):
    parsers = {name: command(name) for name in COMMANDS[config]}
    for f in cli_fields(config):
        shown = {name: p for name, p in parsers.items() if flag_of(f) in flags_in(p)}
        assert shown, f"{config.__name__}.{f.name} has no {flag_of(f)} in {' or '.join(parsers)}"
        for p in shown.values():
            assert squeezed(f.metadata["help"]) in squeezed(p.format_help())
    every = {flag_of(f) for f in cli_fields(config)}
    if config is not ModelConfig:  # a loop's settings are all its command's
        assert every <= set(flags_in(next(iter(parsers.values()))))


def test_the_help_of_a_flag_is_made_from_its_fields_metadata(monkeypatch):
    beta = next(f for f in fields(ModelConfig) if f.name == "beta")
    assert "KL weight" in command("train").format_help()
    monkeypatch.setattr(beta, "metadata", MappingProxyType({**beta.metadata, "help": "how hard the prior pulls"}))
    shown = command("train").format_help()
    assert "how hard the prior pulls (default 1.0)" in " ".join(shown.split()) and "KL weight" not in shown


def test_the_flags_set_the_config_fields_they_are_made_from():
    from vaelab.cli.args import config_args

    args = build_parser().parse_args(
        [
            "train",
            "--out",
            "x",
            "--latent",
            "3",
            "--kernel",
            "5",
            "--kl-warmup",
            "7",
            "--no-onnx",
            "--pictures-every",
            "2",
            "--model",
            "ae-mlp",
        ]
    )
    model, training = config_args(ModelConfig, args), config_args(TrainConfig, args)
    assert (model["latent_dim"], model["kernel_size"], model["kind"]) == (3, 5, "ae-mlp")
    assert (training["kl_warmup_steps"], training["onnx"], training["picture_every"]) == (7, False, 2)
    assert training["epochs"] is None and training["batch_size"] is None  # left out: sized to the data
    args = build_parser().parse_args(["train-cycle", "--out", "x", "--lr-step", "4", "--specified", "3"])
    assert config_args(CycleTrainConfig, args)["lr_step_epochs"] == 4 and args.specified_dim == 3
    assert config_args(CycleTrainConfig, args)["onnx"] is True
    assert build_parser().parse_args(["train-cycle", "--out", "x"]).specified_dim == 16  # the command's default


def test_a_bad_value_is_refused_by_the_reader_its_field_names():
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["train", "--out", "x", "--kernel", "0"])
    assert e.value.code == 2


@pytest.mark.parametrize("name", ["train", "train-cycle"])
def test_the_resume_table_covers_every_setting_of_the_command(name):
    p = command(name)
    kept = p.get_default("run_settings")
    settings = {flag for flag, a in flags_in(p).items() if hasattr(a, "setting")}
    free = FREE_ON_RESUME | ({"--no-density"} if name == "train" else set())
    assert settings & free == free
    assert set(kept) == settings - free | ({"--style"} if name == "train-cycle" else set())


def _run_folder(tmp_path, cycle: bool):
    """A run folder with only a config.json, as a finished epoch leaves it: enough for the checks on resume."""
    out = tmp_path / "run"
    out.mkdir()
    model = (
        ModelConfig(kind="cycle-vae", latent_dim=20, specified_dim=8, likelihood="gaussian")
        if cycle
        else ModelConfig(latent_dim=3)
    )
    training = asdict(CycleTrainConfig() if cycle else TrainConfig())
    (out / "config.json").write_text(json.dumps(model_json(model, {"name": "fashion-mnist"}, training=training)))
    return out


def _another(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, (list, tuple)):
        return (*value, 4)
    return f"not-{value}"


@pytest.mark.parametrize("name", ["train", "train-cycle"])
def test_a_resume_refuses_another_value_of_every_kept_setting_and_takes_the_same_one(tmp_path, name):
    out = _run_folder(tmp_path, cycle=name == "train-cycle")
    doc = json.loads((out / "config.json").read_text())
    kept = {flag: stored for flag, (_, stored) in command(name).get_default("run_settings").items()}
    for flag, stored in kept.items():
        assert run_settings_on_resume(out, True, {flag: stored(doc)}, kept) == doc
        with pytest.raises(VaelabError, match=f"only --data, --epochs, --device may change, but {flag} "):
            run_settings_on_resume(out, True, {flag: _another(stored(doc))}, kept)


@pytest.mark.parametrize(
    "argv, refused",
    [
        (["train", "--beta", "4"], "--beta 4.0 (the run's: 1.0)"),
        (["train", "--widths", "8,16"], "--widths 8,16 (the run's: 32,64,128)"),
        (["train", "--model", "ae-mlp"], "--model ae-mlp (the run's: vae-conv)"),
        (["train", "--latent", "32", "--kl-warmup", "9"], "--latent 32 (the run's: 3), --kl-warmup 9 (the run's: 0)"),
        (["train-cycle", "--style", "4"], "--style 4 (the run's: 12)"),
        (["train-cycle", "--no-onnx"], "--no-onnx True (the run's: False)"),
        (["train-cycle", "--lr-step", "3"], "--lr-step 3 (the run's: 80)"),
    ],
)
def test_vaelab_refuses_a_resume_with_another_setting_naming_its_flag(tmp_path, capsys, argv, refused):
    out = _run_folder(tmp_path, cycle=argv[0] == "train-cycle")
    assert main([argv[0], "--out", str(out), "--resume", "--epochs", "2", *argv[1:]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vaelab: error: --resume goes on with the run's own settings") and refused in err
    assert err.count("\n") == 1
    # it names every flag the command lets a resume change
    free = (
        "--epochs, --device, --precision, --compile, --no-density, --pictures-every"
        if argv[0] == "train"
        else "--epochs, --device, --precision, --compile, --pictures-every"
    )
    assert f"only --data, {free} may change, but " in err


def test_the_sweeps_flags_fill_its_config_and_take_the_training_defaults():
    from vaelab.cli.args import config_args

    args = build_parser().parse_args(["sweep", "--latent", "2,4", "--model", "vae-conv, ae-mlp", "--eval-images", "9"])
    cfg = SweepConfig(**config_args(SweepConfig, args))
    assert cfg.latents == (2, 4) and cfg.kinds == ("vae-conv", "ae-mlp") and cfg.eval_images == 9
    trained = TrainConfig()
    assert (cfg.epochs, cfg.batch_size, cfg.lr, cfg.seed) == (trained.epochs, trained.batch_size, trained.lr, 0)
