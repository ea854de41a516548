"""numba set-up shared by every kernel of :mod:`cnnlab.ref`.

numba's default threading layers (TBB, OpenMP) keep their worker threads
spinning after a parallel region, and so do OpenBLAS's threads after a matrix
product: the two fight over the cores and both NumPy and our kernels get
1.5-2x slower.  The ``workqueue`` layer parks its threads, so it neither slows
the user's NumPy/torch afterwards nor is slowed by them.  A user who sets
``NUMBA_THREADING_LAYER`` keeps their choice.
"""

from __future__ import annotations

import os

import numba

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

#: decorator every kernel uses (see DEVELOPERS.md: parallel, cached, exact math)
kernel = numba.njit(parallel=True, cache=True, fastmath=False, nogil=True)
#: the same for small helpers that are not worth a thread pool
serial = numba.njit(parallel=False, cache=True, fastmath=False, nogil=True)
prange = numba.prange
