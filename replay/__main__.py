import sys

from txwatch.replay.cli import main

sys.exit(main())
