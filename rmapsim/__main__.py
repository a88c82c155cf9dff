import sys

from rmapsim.cli import main

sys.exit(main())
