"""Entry point for `torchrun -m vaelab.train [vaelab train options]`: the same options as `vaelab train`,
run in each process torchrun starts (see README, "Training on several processes")."""
import sys

from vaelab.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
