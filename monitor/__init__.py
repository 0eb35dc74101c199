"""Domain core of the claim monitor: plain functions and classes over a database session.

Nothing here imports Celery or Flask; ``workers/`` and ``web/`` call in.

Importing it first loads the system's C++ standard library for every library loaded after
it to bind to. usearch's compiled module carries a copy of its own, linked statically; where
that copy was the first C++ code in a process, PyTorch's tracer, which converting the model
for OpenVINO runs, later threw and unwound in an endless loop (pytorch/pytorch#109923): a
process that imported an index (the clusters', the known claims') before loading the model
spun at full CPU and never encoded (tests/test_embedding.py).
"""

import ctypes
import sys

if sys.platform.startswith("linux"):
    try:
        ctypes.CDLL("libstdc++.so.6", mode=ctypes.RTLD_GLOBAL)
    except OSError:  # none installed: no other copy for usearch's to clash with
        pass
