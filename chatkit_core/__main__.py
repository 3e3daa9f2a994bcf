import sys

from chatkit_core.cli import main

sys.exit(main())
