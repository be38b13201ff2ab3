"""``python -m insurereco`` runs the command line."""

import sys

from insurereco.cli import main

sys.exit(main())
