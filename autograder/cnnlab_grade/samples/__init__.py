"""The sample class, and what it is made of.

notebooks   this course's notebooks, and submissions made from their solutions (with a mistake patched in)
mistakes    the table of typical mistakes: each a patch, the test cells it must fail, the message it must get
cheats      the cheats and wrong code the sample class carries
make        the sample class itself: ``python autograder/make_samples.py``
plain       plain ``nbgrader`` on a scratch copy of the course, what the grader is compared with
"""
