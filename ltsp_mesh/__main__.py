"""`python -m ltsp_mesh` runs the command line."""

import sys

from ltsp_mesh.cli import main

sys.exit(main())
