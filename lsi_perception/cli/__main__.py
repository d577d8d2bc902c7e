import sys

from lsi_perception.cli import main

sys.exit(main())
