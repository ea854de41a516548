"""cnnlab.grading -- the checks behind the assignments' tests.

The notebooks in ``source/`` (and the released ones in ``assignments/``)
call these from their test cells:

* ``check_*`` compare a student's function with :mod:`cnnlab.ref` on cases
  drawn from a seed, and when it is wrong say what is most likely wrong
  (:mod:`.diagnose`: fingerprints of typical mistakes), never printing hidden
  inputs or expected values;
* :mod:`.forbid` fails a question whose solution calls what it was asked to
  write (cnnlab, scipy.signal, torch's conv/pool/unfold), through aliases and
  ``getattr`` tricks too;
* :mod:`.selfcheck` registers the visible tests per question and prints the
  summary at the end of each notebook;
* :func:`numerical_gradient` and :func:`rel_error` are given to the students;
* :mod:`.nets` (imported on use: it needs torch) checks the networks of ps3/ps4
  against :mod:`cnnlab.models`, and the accuracy of trained ones;
* :mod:`.spec` lists every question with its points, once.

Importing this package does not import torch.
"""

from ._core import GradingFailure, NotWritten
from .cases import ConvCase, PoolCase, random_conv_cases, random_pool_cases, random_size_cases
from .conv import (check_conv2d, check_conv2d_grouped, check_convolve2d, check_flip_invariant, check_im2col,
                   check_output_size, check_vectorised, count_lines)
from .forbid import assert_own_work, static_findings
from .numgrad import numerical_gradient, rel_error
from .pool import (check_avg_pool_backward, check_avg_pool_forward, check_conv2d_backward,
                   check_max_pool_backward, check_max_pool_forward)
from .selfcheck import expect, question, start, summary
from .spec import ASSIGNMENTS, Question, questions, total_points

__all__ = [
    "GradingFailure", "NotWritten",
    "ConvCase", "PoolCase", "random_conv_cases", "random_pool_cases", "random_size_cases",
    "check_output_size", "check_conv2d", "check_conv2d_grouped", "check_im2col", "check_vectorised",
    "check_convolve2d", "check_flip_invariant", "count_lines",
    "check_max_pool_forward", "check_avg_pool_forward", "check_max_pool_backward", "check_avg_pool_backward",
    "check_conv2d_backward",
    "assert_own_work", "static_findings",
    "numerical_gradient", "rel_error",
    "expect", "question", "start", "summary",
    "ASSIGNMENTS", "Question", "questions", "total_points",
]
