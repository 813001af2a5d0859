"""``python -m gaitedge``: the same command line as the ``gaitedge`` script."""

import sys

from gaitedge.cli import main

if __name__ == "__main__":
    sys.exit(main())
