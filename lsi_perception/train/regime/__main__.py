"""``python -m lsi_perception.train.regime``: see ``lsi_perception/train/regime/__init__.py``."""
import sys

from lsi_perception.cpu_threads import prefer_passive_omp_wait

prefer_passive_omp_wait()  # before torch loads, here and in the spawned run workers (they inherit it)

from lsi_perception.train.regime import main  # noqa: E402

sys.exit(main())
