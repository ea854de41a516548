"""nbgrader configuration of CNN Lab.

The course root is this directory (the repository root):

    source/<ps>/<ps>.ipynb        instructor notebooks: solutions and hidden tests
    assignments/<ps>/<ps>.ipynb   released notebooks, made by
                                  `nbgrader generate_assignment <ps> --force` (run from here)

nbgrader keeps its gradebook in gradebook.db here (not committed).  The
grading side (autograder/) builds on this file; the assignment tests copy it
into a scratch course, where `root` follows the copy.
"""

import os

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "cnnlab"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "assignments"

# A cell may run this long (ps3/ps4 train small networks in one cell).
c.Execute.timeout = 120
