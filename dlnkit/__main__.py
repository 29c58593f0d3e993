import sys

from dlnkit.cli import main

sys.exit(main())
