"""``python -m terrazzo``: the same as the ``terrazzo`` command."""

import sys

from .cli import main

sys.exit(main())
