"""Imported by the workers' fork server: what every grading job needs, done once.

Builds the feedback exporter (nbconvert compiles its templates) and imports
the kernel machinery, so that forked workers start warm.  Nothing here runs
numba code: numba's thread pool must not exist in a process that forks.
"""

from . import feedback, pipeline, referee  # noqa: F401
from .sandbox import kernel  # noqa: F401

feedback._exporter()
