"""cnnlab.autograde -- the TA's grading pipeline on top of nbgrader.

One command (``cnnlab-grade``, :mod:`cnnlab.autograde.cli`) takes a class's
submissions (an LMS export zip or a folder of notebooks) to grades:

collect      nbgrader's ``zip_collect`` with a forgiving file-name collector
             (:mod:`.collect`);
grade        one job per student, run by a local process pool or a Dask
             cluster (:mod:`.runner`); each job sanitises the notebook with
             nbgrader's own preprocessors, executes it in a bubblewrap sandbox
             (:mod:`.sandbox`, :mod:`.execute`) and lets a trusted referee
             re-check the hidden op tests outside the student's process
             (:mod:`.referee`);
record       one writer process stores every result in nbgrader's gradebook
             (:mod:`.gradebook`);
feedback     HTML per student that shows scores and diagnostics but no hidden
             test (:mod:`.feedback`);
export       a CSV with one column per question, a report and the list of
             flagged submissions (:mod:`.export`).

Nothing here is imported by :mod:`cnnlab` itself; the TA side uses the
package, never the reverse.
"""
