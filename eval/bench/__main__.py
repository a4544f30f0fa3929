"""``python -m eval.bench``: see :mod:`eval.bench`."""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before anything imports torch

from eval.bench import main  # noqa: E402

raise SystemExit(main())
