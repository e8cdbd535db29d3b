"""``python -m clr.lab ...`` is the ``tinynet-clr`` command."""
import sys

from .cli import main

sys.exit(main())
