import sys

from edgebench.cli.main import main

if __name__ == "__main__":  # spawned workers import this module as __mp_main__
    sys.exit(main())
