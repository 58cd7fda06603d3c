"""`python -m vaelab ...` runs the CLI, as the `vaelab` command does; so does torchrun, in each process it
starts: `torchrun --nproc-per-node N -m vaelab train ...` takes the options of `vaelab train`."""

import sys

from vaelab.cli import main

if __name__ == "__main__":
    sys.exit(main())
