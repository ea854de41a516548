"""cnnlab_grade -- the TA's grading tool of CNN Lab (``cnnlab-grade``), on top of nbgrader.

One command takes a class's submissions (an LMS export zip or a folder of
notebooks) to grades.  It uses the course package :mod:`cnnlab` (the checks
the notebooks' test cells call live in :mod:`cnnlab.checks`); :mod:`cnnlab`
never imports this package.

Grading one submission is a declared list of stages (:mod:`.pipeline`):

    collect -> prepare -> run -> referee -> score -> scan -> feedback -> export

The modules, one job each:

records        the records the stages pass (the bottom: imports nothing of this package)
cli            the command line -> Options -> the coordinator
coordinator    a class's run: assignments, jobs, workers, export, report
course         the course: source/, autograder/grading.toml, referee specs
gradedir       the grading directory (an nbgrader course) and the grader's state in it
assignment     an assignment into the gradebook, and its Bundle for the workers
collect        the LMS export (zip or folder) -> submitted/<student>/<assignment>/ (nbgrader's zip_collect)
jobs           submitted/ -> one Job per student not graded yet
workers        a local process pool or a Dask cluster running the jobs
pipeline       the stages of one submission, in order; the worker's entry point
stages/        one module per stage
warm           the instructor's solution run once: warm caches, and checks that it gets full marks
sandbox/       bubblewrap, uids, homes, sandboxed kernels and the kernel zygote
referee/       the referee: spec, sandboxed worker, verdicts
gradebook      nbgrader's gradebook: the master cells (snapshot) and the one writer
feedback       the feedback page (HTML without hidden tests)
report         the class's export: grades.csv, flagged.csv, report.html
scan           static reading of the code for the TA (suspicious code, files beside the notebook)
samples/       the sample class, the table of typical mistakes, plain nbgrader for comparison
"""

__version__ = "0.1.0"
