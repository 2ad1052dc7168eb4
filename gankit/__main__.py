"""``python -m gankit`` is the ``gankit`` command."""
import sys

from .cli import main

sys.exit(main())
