"""`python -m syncd.cli`: the same commands as the `syncd` console script."""

from __future__ import annotations

import sys

from syncd.cli import main

sys.exit(main())
