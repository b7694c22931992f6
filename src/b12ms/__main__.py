"""`python -m b12ms`: the same as the `b12ms` command."""

import sys

from b12ms.cli import main

sys.exit(main())
