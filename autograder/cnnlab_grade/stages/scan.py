"""Scan: code that tries to influence grading, pointed out to the TA.

IPython hooks and transformers, replaced library functions, comparison
overrides, reaching for the course's files, exiting the kernel
(:func:`cnnlab_grade.scan.suspicious_code`) raise the ``suspicious-code``
flag.  It never changes a score: the sandbox and the referee take care of
that; it tells the TA where to look.
"""

from __future__ import annotations

from nbgrader import utils as nbutils

from ..scan import suspicious_code
from . import Stage


class Scan(Stage):
    name = "scan"

    def run(self, sub, ctx) -> None:
        for w in sub.gradable():
            findings = suspicious_code([(i, c.source) for i, c in enumerate(w.nb.cells)
                                        if c.cell_type == "code" and not nbutils.is_grade(c)])
            for finding in findings:
                sub.flag("suspicious-code", f"{w.name}.ipynb: {finding}")
