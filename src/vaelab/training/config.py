"""The training settings of each loop, one dataclass each: its fields are the run's settings as config.json and
the checkpoint record them, and each is refused here when no run can use it.

A field that the command line sets carries its --help text in ``metadata["help"]``; the other metadata keys say
how the flag reads it (see ``vaelab.training.settings``, which documents them, and ``cli.args.add_fields_to_parser``,
which makes the flags)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from vaelab.errors import VaelabError

RECON_LOSSES = ("mse", "bce")  # the forward cycle's reconstruction term: the paper's, or cross-entropy
LR_SCHEDULES = ("constant", "cosine")  # TrainConfig.lr_at draws each

# Settings both loops take, with the same meaning and the same --help.
DEVICE = dict(help="auto (CUDA when present) | cpu | cuda | cuda:N", free_on_resume=True)
VAL_FRACTION = dict(
    help="hold out this fraction of the training images (the same ones for every seed) and score "
    "them every epoch; the model folder then keeps the best validated epoch (default 0: none)",
    metavar="F",
)
PATIENCE_HELP = (
    "with --val-fraction: stop after this many epochs without a better {score} (default 0: train every epoch)"
)
PICTURES_HELP = (
    "draw {what} every this many epochs, and always after the last (default: every epoch of a run of "
    "up to 20, about 20 in all in a longer one; on --resume, the run's own setting)"
)
PICTURE_EVERY = dict(flag="--pictures-every", type="positive", metavar="EPOCHS", free_on_resume=True)
PRECISIONS = ("auto", "bf16", "fp32")  # training.compute.plan_compute reads each
PRECISION = dict(
    choices=PRECISIONS,
    help="the training forward pass's number format. auto (default): bf16 where the device computes it natively "
    "(a CPU with AMX or AVX512-BF16, a CUDA GPU of compute capability 8.0 or later), else fp32; the weights, the "
    "objective's sums and the saved model stay fp32 either way. On --resume, the run's own unless given",
    free_on_resume=True,  # how a run computes, not what it learns: a run moved to another machine may change it
)
COMPILE = dict(
    help="run the training step's model under torch.compile: a warm-up of half a minute or more, then faster steps "
    "where it pays (measured in docs/benchmarks/training-throughput.md). On --resume, the run's own unless given",
    free_on_resume=True,
)


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise VaelabError(f"the precision is one of {', '.join(PRECISIONS)}, not {precision!r}")


@dataclass
class TrainConfig:
    epochs: int = field(
        default=10,
        metadata=dict(
            type="positive",
            cli_default=None,
            free_on_resume=True,  # the CLI sizes it to the data when not given
            help="default: 10, or on a small set enough for about 1000 optimizer steps (at most 300) of the batch it "
            "would have without the colour recipe's cap; on --resume, the run's own",
        ),
    )
    batch_size: int = field(
        default=128,
        metadata=dict(
            type="positive",
            cli_default=None,  # the CLI sizes it to the data when not given
            help="default: 128, or on a small set a power of two down to 16, for 16 to 32 steps an epoch",
        ),
    )
    lr: float = field(default=1e-3, metadata=dict(type="positive_number", help=""))
    lr_schedule: str = field(
        default="constant",
        metadata=dict(
            choices=LR_SCHEDULES,
            help="constant: --lr throughout; cosine: a half cosine from --lr down to 0 at the run's last step",
        ),
    )
    warmup_steps: int = field(
        default=0,
        metadata=dict(metavar="STEPS", help="raise the learning rate linearly from 0 over this many steps first"),
    )
    ema: float = field(
        default=0.0,
        metadata=dict(
            metavar="DECAY",
            help="score, draw and save an exponential moving average of the weights with this decay, e.g. 0.999 "
            "(0 = off); training goes on with the weights themselves",
        ),
    )
    freq_loss: float = field(
        default=0.0,
        metadata=dict(
            metavar="WEIGHT",
            help="add the focal frequency loss (Jiang et al. 2021) of the reconstructions at this weight, e.g. 1: it "
            "pulls towards the fine detail a VAE blurs away (0 = off; 1 pulls as hard as the Gaussian likelihood)",
        ),
    )
    perceptual: float = field(
        default=0.0,
        metadata=dict(
            metavar="WEIGHT",
            help="add the distance between each image and its reconstruction in the features of an evaluator CNN "
            "(LPIPS's recipe, with no downloaded network), at this weight, e.g. 1 (0 = off; 1 pulls as hard as the "
            "Gaussian likelihood). The evaluator's own KID then flatters the model: judge it in other features too",
        ),
    )
    perceptual_evaluator: str | None = field(
        default=None,
        metadata=dict(
            type="text",
            metavar="FOLDER",
            help="with --perceptual: the evaluator folder whose features it compares (default: the data's shipped "
            "evaluator, for fashion-mnist and emoji; any other data needs one from `vaelab train-evaluator`)",
        ),
    )
    adversarial: float = field(
        default=0.0,
        metadata=dict(
            metavar="WEIGHT",
            help="add a PatchGAN discriminator's hinge loss on the reconstructions, at this multiple of VQGAN's "
            "adaptive weight, e.g. 0.1 (0 = off); the objective is then no longer an ELBO",
        ),
    )
    adversarial_start: int = field(
        default=500,
        metadata=dict(metavar="STEPS", help="with --adversarial: train without it for this many steps first"),
    )
    shift: int = field(
        default=0,
        metadata=dict(
            metavar="PIXELS", help="augmentation: move each training image by up to this many pixels (0 = off)"
        ),
    )
    flip: bool = field(
        default=False,
        metadata=dict(
            help="augmentation: mirror half the training images left to right; only for data whose mirror images "
            "are as valid (clothes, faces; not emoji, letters or digits)"
        ),
    )
    minutes: float = field(
        default=0.0,
        metadata=dict(
            metavar="N",
            help="train for about N minutes of wall-clock time instead of a number of epochs: the last epoch is "
            "refitted to the time after each one (and with --lr-schedule cosine, the schedule with it); the first "
            "epoch always runs in full",
        ),
    )
    seed: int = field(default=0, metadata=dict(type="seed", help=""))
    # the KL weight rises linearly from 0 to 1 over this many steps (0 = off)
    kl_warmup_steps: int = field(default=0, metadata=dict(flag="--kl-warmup", help="steps of linear KL warm-up"))
    capacity_max: float = field(
        default=0.0,
        metadata=dict(
            help="capacity annealing (Burgess et al.): objective recon + beta*|KL - C|, C rising to this many nats "
            "(0 = off; use a large --beta such as 100 as the gamma)"
        ),
    )
    # 0 with a capacity: C fixed at the max from the start
    capacity_steps: int = field(default=0, metadata=dict(help="steps over which C rises from 0 to --capacity-max"))
    device: str = field(default="auto", metadata=DEVICE)
    precision: str = field(default="auto", metadata=PRECISION)
    compile: bool = field(default=False, metadata=COMPILE)
    log_every: int = 50  # steps between train-loss records in metrics.jsonl
    grid_images: int = 16  # test images in the reconstruction grid
    onnx: bool = field(default=True, metadata=dict(help="skip the ONNX export (morph then uses torch)"))
    # Not the loop's: vaelab.tasks.train fits the density once the run has finished.
    density: bool = field(
        default=True,
        metadata=dict(
            free_on_resume=True,
            help="do not fit a density to the model's codes when the run finishes (density.safetensors, and "
            "samples.png drawn from it); its samples then come from N(0, I), often noise, until `vaelab "
            "fit-density`. On Fashion-MNIST the fit takes under a minute on a 2-core CPU",
        ),
    )
    val_fraction: float = field(default=0.0, metadata=VAL_FRACTION)
    patience: int = field(
        default=0, metadata=dict(help=PATIENCE_HELP.format(score="validation -ELBO"), metavar="EPOCHS")
    )
    # None: about 20 a run, every epoch of a run of up to 20; on a resume, the run's own setting
    picture_every: int | None = field(
        default=None,
        metadata=dict(PICTURE_EVERY, help=PICTURES_HELP.format(what="recon_epochNNN.png and samples_epochNNN.png")),
    )

    def __post_init__(self) -> None:
        """Settings no run can use are refused here, before anything is written."""
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise VaelabError(f"the learning rate must be above 0, not {self.lr}")
        if self.epochs < 1 or self.batch_size < 1:
            raise VaelabError(f"epochs and batch size must be at least 1, not {self.epochs} and {self.batch_size}")
        if self.kl_warmup_steps < 0 or self.capacity_steps < 0:
            raise VaelabError(
                "the KL warm-up and the capacity steps must be 0 or more, not "
                f"{self.kl_warmup_steps} and {self.capacity_steps}"
            )
        if not (math.isfinite(self.capacity_max) and self.capacity_max >= 0):
            raise VaelabError(f"the capacity must be 0 (off) or more nats, not {self.capacity_max}")
        if self.capacity_steps and not self.capacity_max:
            raise VaelabError("capacity steps without a capacity do nothing: give --capacity-max too")
        if self.lr_schedule not in LR_SCHEDULES:
            raise VaelabError(
                f"the learning-rate schedule is one of {', '.join(LR_SCHEDULES)}, not {self.lr_schedule!r}"
            )
        if self.warmup_steps < 0:
            raise VaelabError(f"the learning-rate warm-up is 0 or more steps, not {self.warmup_steps}")
        if not 0 <= self.ema < 1:  # NaN fails too
            raise VaelabError(f"the EMA decay must be at least 0 (off) and below 1, such as 0.999, not {self.ema}")
        terms = (("frequency loss", self.freq_loss), ("perceptual", self.perceptual), ("adversarial", self.adversarial))
        for name, value in terms:
            if not (math.isfinite(value) and value >= 0):
                raise VaelabError(f"the {name} weight must be 0 (off) or more, not {value}")
        if self.perceptual_evaluator is not None and not self.perceptual:
            raise VaelabError(
                "--perceptual-evaluator says whose features the perceptual term uses; give --perceptual too"
            )
        if self.adversarial_start < 0 or self.shift < 0:
            raise VaelabError(
                f"the adversarial start and the shift must be 0 or more, not {self.adversarial_start} and {self.shift}"
            )
        if not (math.isfinite(self.minutes) and self.minutes >= 0):
            raise VaelabError(f"the time budget must be 0 (off) or more minutes, not {self.minutes}")
        check_validation_settings(self.val_fraction, self.patience)
        check_picture_every(self.picture_every)
        check_precision(self.precision)

    @property
    def elbo_objective(self) -> bool:
        """Whether the training objective is an ELBO (up to β and the KL schedule): not with a frequency, a
        perceptual or an adversarial term added."""
        return not (self.freq_loss or self.perceptual or self.adversarial)

    def lr_at(self, step: int, total_steps: int) -> float:
        """The learning rate of the step taken after ``step`` steps of a run of ``total_steps``: lr · (step + 1) / W
        over the first W = warmup_steps, then lr (constant), or lr · ½(1 + cos(π · (step − W) / (total_steps − W)))
        (cosine), which falls to about 0 at the last step."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        if self.lr_schedule == "constant":
            return self.lr
        return cosine_decay(self.lr, step - self.warmup_steps, total_steps - self.warmup_steps)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = known_fields(cls, d)
        if not d.get("capacity_max"):  # runs from before the check may hold steps that never did anything
            d["capacity_steps"] = 0
        return cls(**d)


def known_fields(config: type, d: dict) -> dict:
    """The entries of a saved settings record that ``config`` has fields for (older or newer runs may hold others)."""
    known = {f.name for f in fields(config)}
    return {k: v for k, v in d.items() if k in known}


def cosine_decay(lr: float, step: int, total_steps: int) -> float:
    """lr · ½(1 + cos(π · step / total_steps)): from lr at step 0 to about 0 at the last step, then 0."""
    return lr * 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, total_steps))))


def check_picture_every(every: int | None) -> None:
    if every is not None and every < 1:
        raise VaelabError(f"pictures are drawn every 1 or more epochs, not every {every}")


def check_fraction(fraction: float) -> None:
    if not 0 <= fraction < 1:
        raise VaelabError(f"the validation fraction must be at least 0 and below 1, not {fraction}")


def check_validation_settings(val_fraction: float, patience: int) -> None:
    """--val-fraction and --patience, as both training loops take them."""
    check_fraction(val_fraction)
    if patience < 0:
        raise VaelabError(f"the patience is a number of epochs, 0 or more, not {patience}")
    if patience and not val_fraction:
        raise VaelabError("stopping early (--patience) needs validation images: give --val-fraction too, e.g. 0.1")


@dataclass
class CycleTrainConfig:
    epochs: int = field(
        default=10,
        metadata=dict(
            type="positive",
            cli_default=None,
            free_on_resume=True,  # None on the CLI: on --resume, as the run planned
            help="default 10; on --resume, the epochs the run planned",
        ),
    )
    batch_size: int = field(default=64, metadata=dict(type="positive", help=""))
    lr: float = field(
        default=1e-4, metadata=dict(type="positive_number", help="Adam learning rate of both cycles (paper: 1e-4)")
    )
    lr_step_epochs: int = field(
        default=80,
        metadata=dict(
            flag="--lr-step",
            metavar="EPOCHS",
            help="multiply the learning rates by --lr-gamma every this many epochs (paper: 80; 0: never)",
        ),
    )
    lr_gamma: float = field(default=0.1, metadata=dict(help="the factor of each --lr-step (paper: 0.1)"))
    reconstruction_coef: float = field(default=2.0, metadata=dict(help=""))
    kl_coef: float = field(default=3.0, metadata=dict(help=""))
    reverse_coef: float = field(default=10.0, metadata=dict(help=""))
    recon_loss: str = field(
        default="mse",
        metadata=dict(
            choices=RECON_LOSSES,
            help="the forward cycle's reconstruction term: mse (paper) or bce (small objects on "
            "black, such as sprites, where MSE settles on an empty image)",
        ),
    )
    shift: int = field(
        default=0,
        metadata=dict(
            metavar="PIXELS",
            help="augmentation: move each image of a forward-cycle pair by up to this many pixels, "
            "independently, so that s cannot carry position (default 0, the paper's)",
        ),
    )
    seed: int = field(default=0, metadata=dict(type="seed", help=""))
    device: str = field(default="auto", metadata=DEVICE)
    precision: str = field(default="auto", metadata=PRECISION)
    compile: bool = field(default=False, metadata=COMPILE)
    log_every: int = 50  # steps between train-loss records in metrics.jsonl
    grid_images: int = 8  # test images along each side of the per-epoch swap grid
    eval_images: int = 2000  # test images for the per-epoch numbers
    onnx: bool = field(default=True, metadata=dict(help="skip the ONNX export"))
    val_fraction: float = field(default=0.0, metadata=VAL_FRACTION)
    patience: int = field(
        default=0,
        metadata=dict(
            help=PATIENCE_HELP.format(score="validation score (the forward cycle's loss on the held-out images)"),
            metavar="EPOCHS",
        ),
    )
    # None: about 20 a run, as train's grids; on a resume, the run's own setting
    picture_every: int | None = field(
        default=None, metadata=dict(PICTURE_EVERY, help=PICTURES_HELP.format(what="swap_epochNNN.png"))
    )

    def __post_init__(self) -> None:
        """Settings no run can use are refused here, before anything is written."""
        if self.recon_loss not in RECON_LOSSES:
            raise VaelabError(f"the reconstruction loss is one of {', '.join(RECON_LOSSES)}, not {self.recon_loss!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise VaelabError(f"the learning rate must be above 0, not {self.lr}")
        if self.lr_step_epochs < 0 or not (math.isfinite(self.lr_gamma) and self.lr_gamma > 0):
            raise VaelabError(
                f"the learning-rate step must be ≥ 0 epochs and its factor > 0; got "
                f"{self.lr_step_epochs} and {self.lr_gamma}"
            )
        coefs = (self.reconstruction_coef, self.kl_coef, self.reverse_coef)
        if not all(math.isfinite(c) and c >= 0 for c in coefs):
            raise VaelabError(
                f"the loss weights must be 0 or more; got reconstruction {coefs[0]}, KL {coefs[1]}, "
                f"reverse cycle {coefs[2]}"
            )
        if self.epochs < 1 or self.batch_size < 1 or self.shift < 0:
            raise VaelabError(
                f"epochs and batch size must be at least 1 and the shift 0 or more; got {self.epochs}, "
                f"{self.batch_size} and {self.shift}"
            )
        check_validation_settings(self.val_fraction, self.patience)
        check_picture_every(self.picture_every)
        check_precision(self.precision)

    def validation_score(self, scores: dict, pixels: int) -> float:
        """The forward cycle's loss on held-out images, at the posterior mean and with MSE (lower is better):
        reconstruction_coef · swap MSE + kl_coef · KL(z) per pixel, from ``evaluate_cycle``'s ``scores``."""
        return self.reconstruction_coef * scores["swap_mse"] + self.kl_coef * scores["kl"] / pixels

    @classmethod
    def from_dict(cls, d: dict) -> CycleTrainConfig:
        return cls(**known_fields(cls, d))

    def lr_at(self, epoch: int) -> float:
        """The learning rate of (1-based) ``epoch``: lr · gamma^⌊(epoch − 1) / step⌋."""
        return self.lr * self.lr_gamma ** ((epoch - 1) // self.lr_step_epochs) if self.lr_step_epochs else self.lr


@dataclass
class SweepConfig:
    """The latent-size sweep's settings: which models it trains, each with TrainConfig's defaults unless given."""

    latents: tuple[int, ...] = field(
        default=(2, 8, 16, 32, 64, 128),
        metadata=dict(flag="--latent", type="ints", help="sizes (default 2,8,16,32,64,128)"),
    )
    kinds: tuple[str, ...] = field(
        default=("vae-conv",),
        metadata=dict(flag="--model", type="names", help="kind, or kinds comma-separated: vae-conv,ae-mlp"),
    )
    epochs: int = field(default=TrainConfig.epochs, metadata=dict(type="positive", help=""))
    batch_size: int = field(default=TrainConfig.batch_size, metadata=dict(type="positive", help=""))
    lr: float = field(default=TrainConfig.lr, metadata=dict(type="positive_number", help=""))
    seed: int = field(default=TrainConfig.seed, metadata=dict(type="seed", help=""))
    limit: int | None = None  # train on the first N training images only
    eval_images: int | None = field(
        default=None, metadata=dict(type="positive", help="measure on the first N test images (default all)")
    )
    prior_samples: int = field(default=1000, metadata=dict(type="positive", help=""))
    device: str = TrainConfig.device


@dataclass
class ClassifierTrainConfig:
    epochs: int = field(
        default=8,
        metadata=dict(
            type="positive", cli_default=None, free_on_resume=True, help="default 8; on --resume, the run's plan"
        ),
    )
    batch_size: int = field(default=128, metadata=dict(type="positive", help=""))
    lr: float = field(
        default=2e-3, metadata=dict(type="positive_number", help="Adam's learning rate, decayed to 0 by a cosine")
    )
    # With a constant rate (1e-3, no flips) the accuracy stalled at 89.9% after 5 epochs; decaying the rate to
    # zero, with flips, reached 92.1% in 8 (BENCHMARKS.md).
    flip: bool = field(default=True, metadata=dict(help="no random horizontal flips"))
    minutes: float = field(
        default=0.0,
        metadata=dict(
            metavar="N",
            help="train for about N minutes instead of a number of epochs: the last epoch, and the cosine decay "
            "with it, are refitted to the time after each one",
        ),
    )
    seed: int = field(default=0, metadata=dict(type="seed", help=""))
    device: str = field(default="auto", metadata=DEVICE)
    precision: str = field(default="auto", metadata=PRECISION)
    compile: bool = field(default=False, metadata=COMPILE)
    log_every: int = 50  # steps per train-loss record in metrics.jsonl and the history
    patience: int = 0  # the scaffold's early stop: an evaluator has no validation images
    picture_every: int | None = None  # and draws no pictures

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise VaelabError(f"epochs and batch size must be at least 1, not {self.epochs} and {self.batch_size}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise VaelabError(f"the learning rate must be above 0, not {self.lr}")
        if not (math.isfinite(self.minutes) and self.minutes >= 0):
            raise VaelabError(f"the time budget must be 0 (off) or more minutes, not {self.minutes}")
        check_precision(self.precision)

    @classmethod
    def from_dict(cls, d: dict) -> ClassifierTrainConfig:
        return cls(**known_fields(cls, d))

    def lr_at(self, step: int, total_steps: int) -> float:
        """The learning rate of the step taken after ``step`` steps: lr · ½(1 + cos(π · step / total_steps))."""
        return cosine_decay(self.lr, step, total_steps)
