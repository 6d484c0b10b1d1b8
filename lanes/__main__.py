import sys

from lanes.cli import main

sys.exit(main())
