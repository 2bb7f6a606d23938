"""``python -m example_app demo [--no-serve] [--videos N]``, or any Django command.

Examples:
    python -m example_app demo                 # seed, refresh, time, serve on :8000
    python -m example_app demo --no-serve      # stop after the printout
    python -m example_app refresh_channel --wait
    python -m example_app runserver --insecure 127.0.0.1:8000
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo or a Django management command; the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_app.settings")
    if args and args[0] == "demo":
        from example_app.demo import main as demo_main

        return demo_main(args[1:])
    from django.core.management import execute_from_command_line

    if not args:
        print(__doc__)
    execute_from_command_line(["python -m example_app", *args])
    return 0


if __name__ == "__main__":
    sys.exit(main())
