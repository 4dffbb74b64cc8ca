"""Entry point of ``python -m dca.bench``."""

import sys

from dca.bench.cli import main

sys.exit(main())
