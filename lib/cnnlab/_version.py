"""The version of CNN Lab: the one place it is written.

The package metadata (pyproject.toml reads it), ``cnnlab.__version__``, the
website's footer, the PDF and the file names of a release all take it from
here; ``make release VERSION=x.y.z`` rewrites this line.
"""

__version__ = "0.1.0"
