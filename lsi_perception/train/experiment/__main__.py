"""``python -m lsi_perception.train.experiment``: see ``lsi_perception/train/experiment/__init__.py``."""
import sys

from lsi_perception.train.experiment import main

sys.exit(main())
