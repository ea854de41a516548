"""cnnlab.checks -- the checks that the assignments' test cells call.

The notebooks in ``source/`` (and the released ones in ``assignments/``)
call these from their test cells; students run them on their own machine.
(The TA's grading tool is a separate package, ``cnnlab_grade``, in
``autograder/``; nothing here imports it.)

* ``check_*`` compare a student's function with :mod:`cnnlab.ref` on cases
  drawn from a seed, and when it is wrong say what is most likely wrong
  (:mod:`.diagnose`: fingerprints of typical mistakes; when none matches,
  :mod:`.locate` tries the systematic variants of :mod:`.variants` and else
  says where the wrong entries are), never printing hidden inputs or expected
  values: :mod:`.size`, :mod:`.conv`, :mod:`.im2col`, :mod:`.convolve` (ps1),
  :mod:`.pool` (ps2);
* the forbidden-call detector fails a question whose solution calls what it
  was asked to write (cnnlab, scipy.signal, torch's conv/pool/unfold), through
  aliases and ``getattr`` tricks too: the policies (:mod:`.policy`), the static
  half (:mod:`.detect`), the dynamic half (:mod:`.tripwires`), and the
  :class:`Guard` every check calls the student's code through (:mod:`.guard`);
* :mod:`.selfcheck` registers the visible tests per question and prints the
  summary at the end of each notebook;
* :func:`numerical_gradient` and :func:`rel_error` are given to the students;
* :mod:`.nets` (imported on use: it needs torch) checks the networks of ps3/ps4
  against :mod:`cnnlab.models` (a mismatch comes with a layer-by-layer trace
  of shapes and parameter counts that names the first layer that differs),
  and the accuracy of trained ones;
* :mod:`.questions` lists every question with its points, once.

Importing this package does not import torch.
"""

from ._core import GradingFailure, NotWritten
from .cases import ConvCase, PoolCase, random_conv_cases, random_pool_cases, random_size_cases
from .conv import check_conv2d, check_conv2d_grouped
from .convolve import check_convolve2d, check_flip_invariant
from .detect import source_findings, static_findings
from .guard import Guard, assert_own_work, count_lines
from .im2col import check_im2col, check_vectorised
from .numgrad import numerical_gradient, rel_error
from .policy import NUMPY, POLICIES, TORCH, Policy
from .pool import (check_avg_pool_backward, check_avg_pool_forward, check_conv2d_backward,
                   check_max_pool_backward, check_max_pool_forward)
from .questions import ASSIGNMENTS, Question, questions, total_points
from .selfcheck import expect, question, start, summary
from .size import check_output_size

__all__ = [
    "GradingFailure", "NotWritten",
    "ConvCase", "PoolCase", "random_conv_cases", "random_pool_cases", "random_size_cases",
    "check_output_size", "check_conv2d", "check_conv2d_grouped", "check_im2col", "check_vectorised",
    "check_convolve2d", "check_flip_invariant", "count_lines",
    "check_max_pool_forward", "check_avg_pool_forward", "check_max_pool_backward", "check_avg_pool_backward",
    "check_conv2d_backward",
    "Guard", "Policy", "NUMPY", "TORCH", "POLICIES", "assert_own_work", "static_findings", "source_findings",
    "numerical_gradient", "rel_error",
    "expect", "question", "start", "summary",
    "ASSIGNMENTS", "Question", "questions", "total_points",
]
