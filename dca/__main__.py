"""``python -m dca``: the ``dca`` command without its console script, as the workflow's jobs call it (the
workflow's own source on PYTHONPATH, so a conda or container environment needs no installed dca)."""

import sys

from dca.cli import main

sys.exit(main())
