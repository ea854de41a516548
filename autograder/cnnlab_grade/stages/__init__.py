"""The stages of grading one submission, one small module each.

collect    the submission's files: which notebooks, which files beside them, flags (empty, renamed, late...)
prepare    each notebook read and sanitised with nbgrader's preprocessors; edited or deleted tests flagged
run        each notebook run in the sandbox, fault by fault (time-outs, dead kernels, memory, processes)
referee    the referee's verdicts on the test cells its spec names
score      the points of each test cell: the notebook's own run, capped by the referee; tampered flags
scan       code that tries to influence grading pointed out (a flag, never a score change)
feedback   the page the student gets back
export     the graded submission recorded (files, gradebook, result marker) -- in the coordinating process

:mod:`cnnlab_grade.pipeline` declares the order.  A stage is a class with a
``name`` and ``run(sub, ctx)``: it reads and adds to the
:class:`~cnnlab_grade.records.Submission` (``sub``); ``ctx`` is what the
stages of one job share (:class:`~cnnlab_grade.pipeline.Context`).
"""


class Stage:
    """One step of grading a submission."""

    #: the stage's name (its time is reported under it)
    name = ""

    def run(self, sub, ctx) -> None:
        raise NotImplementedError
