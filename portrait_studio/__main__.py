"""`python -m portrait_studio`: the same command line as the `portrait-studio` script."""

import sys

from portrait_studio.cli import main

sys.exit(main())
