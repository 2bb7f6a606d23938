"""``python -m pipelines_lib``: see :mod:`pipelines_lib._cli`."""

import sys

from pipelines_lib._cli import main

sys.exit(main())
