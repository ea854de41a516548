"""Generate the sample class: ``autograder/samples/ps1/`` and ``autograder/samples/ps1.expected.json``.

    python autograder/make_samples.py            # writes autograder/samples/ps1/
    python autograder/make_samples.py --out DIR  # somewhere else

The sample class is made by :mod:`cnnlab_grade.samples.make` (installed with
the ``grade`` extra); see there for what it holds.
"""

from cnnlab_grade.samples.make import main

if __name__ == "__main__":
    main()
