"""numba set-up shared by every kernel of :mod:`cnnlab.ref`.

numba's default threading layers (TBB, OpenMP) keep their worker threads
spinning after a parallel region, and so do OpenBLAS's threads after a matrix
product: the two fight over the cores and both NumPy and our kernels get
1.5-2x slower.  The ``workqueue`` layer parks its threads, so it neither slows
the user's NumPy/torch afterwards nor is slowed by them.  A user who sets
``NUMBA_THREADING_LAYER`` keeps their choice.

The first kernel call of a process, even one loaded from numba's cache, makes
numba import and register all its own implementations (0.4 s).  Among them,
``numba.np.arraymath`` probes at import whether BLAS is available by importing
``scipy.linalg`` -- another 0.2-0.3 s, for a package none of our kernels uses.
:class:`_BlasProbe` answers that probe from the installed files instead (see
there); numba still imports scipy.linalg when code really uses BLAS.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

import numba

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

#: decorator every kernel uses: parallel over the outer loop, compiled once and cached on disk,
#: exact floating-point math (no fastmath: the reference must agree with torch to many digits)
kernel = numba.njit(parallel=True, cache=True, fastmath=False, nogil=True)
#: the same for small helpers that are not worth a thread pool
serial = numba.njit(parallel=False, cache=True, fastmath=False, nogil=True)
#: ``serial``, inlined into the caller at numba's IR level: the row helpers, whose
#: literal stride must reach LLVM as a constant to vectorise (LLVM's own
#: inlining drops them from large callers)
inline = numba.njit(parallel=False, cache=True, fastmath=False, nogil=True, inline="always")
prange = numba.prange


def _scipy_blas_installed() -> None:
    """Stand-in for ``numba.np.linalg.ensure_blas`` during the import of
    ``numba.np.arraymath``: raise ImportError, as the real probe does, unless
    ``scipy.linalg.cython_blas`` is installed -- found on disk, not imported."""
    spec = importlib.util.find_spec("scipy")  # a top-level find_spec imports nothing
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        linalg = os.path.join(folder, "linalg")
        try:
            names = os.listdir(linalg)
        except OSError:
            continue
        if any(n.startswith("cython_blas.") and n.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
               for n in names):
            return
    raise ImportError("scipy.linalg.cython_blas is not installed")


class _BlasProbe(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """One-shot import hook for ``numba.np.arraymath``.

    That module runs ``_HAVE_BLAS = _check_blas()`` at import, and the check
    imports scipy.linalg (which imports half of scipy and numpy.f2py).  While
    the module executes, ``ensure_blas`` is replaced by
    :func:`_scipy_blas_installed`, which reaches the same answer from the
    installed files; afterwards the real ``ensure_blas`` is put back, so every
    later BLAS/LAPACK use (np.dot, np.linalg in numba code) imports and checks
    scipy exactly as before.  numba versions without these names are left alone.
    """

    _inner = None

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "numba.np.arraymath":
            return None
        _remove_hook()
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not hasattr(spec.loader, "exec_module"):
            return spec
        self._inner = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        try:
            import numba.np.linalg as linalg  # imported by arraymath first anyway
            real = linalg.ensure_blas
        except (ImportError, AttributeError):
            return self._inner.exec_module(module)
        linalg.ensure_blas = _scipy_blas_installed
        try:
            self._inner.exec_module(module)
        finally:
            linalg.ensure_blas = real
            if getattr(module, "ensure_blas", None) is _scipy_blas_installed:
                module.ensure_blas = real

    def __getattr__(self, name):  # get_source, get_filename, ... of the real loader
        if self._inner is None:
            raise AttributeError(name)
        return getattr(self._inner, name)


_HOOK = _BlasProbe()


def _remove_hook() -> None:
    try:
        sys.meta_path.remove(_HOOK)
    except ValueError:
        pass


if "numba.np.arraymath" not in sys.modules:  # else numba has run its probe already
    sys.meta_path.insert(0, _HOOK)
