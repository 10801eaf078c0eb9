"""``python -m livetrade`` is the ``livetrade`` command."""

import sys

from livetrade.cli.main import main

sys.exit(main())
