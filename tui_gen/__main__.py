import sys

from tui_gen.cli.main import main

sys.exit(main())
