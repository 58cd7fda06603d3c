"""`python -m vaelab ...` runs the CLI, as the `vaelab` command does."""
import sys

from vaelab.cli import main

if __name__ == "__main__":
    sys.exit(main())
