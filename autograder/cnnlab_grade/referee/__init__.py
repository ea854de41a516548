"""The referee: hidden op tests decided outside the student's process.

spec           the spec of an assignment (``autograder/referee/<assignment>.toml``)
worker         the sandboxed worker that runs the student's code, and its pipes
_worker_main   the worker itself (runs from its source text inside the sandbox)
judge          the verdicts: the student's functions called through proxies, judged here
"""

from .judge import Referee, defined_functions, student_code_cells, verdict_points
from .spec import RefereeSpec, SpecError, mirror_calls

__all__ = ["Referee", "RefereeSpec", "SpecError", "defined_functions", "mirror_calls", "student_code_cells",
           "verdict_points"]
