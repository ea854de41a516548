"""The sandbox every student's code runs in (bubblewrap, limits, kernels).

bwrap          the command line: mounts, namespaces, limits (:class:`Sandbox`)
uids           an unprivileged uid per concurrent sandbox
cgroup         a cgroup per sandbox: memory, processes and CPU of all its processes together
home           the student's scratch home and the files it starts with
availability   whether the sandbox works here (else the grader refuses); stopping sandboxed processes
kernel         running a notebook in a sandboxed kernel, fault by fault (:class:`NotebookRun`)
zygote         warm kernels: one sandboxed process per worker forks a kernel per student
_zygote_main   the zygote itself (runs from its source text inside the sandbox)

``autograder/README.md`` gives the reason behind every option.
"""

from .availability import SandboxUnavailable, require_sandbox, sandbox_problem, stop_process
from .bwrap import HOME, Sandbox, package_root
from .home import is_shadowing, prepare_home
from .kernel import run_notebook
from .uids import is_root, uid_slot

__all__ = ["HOME", "Sandbox", "SandboxUnavailable", "is_root", "is_shadowing", "package_root", "prepare_home",
           "require_sandbox", "run_notebook", "sandbox_problem", "stop_process", "uid_slot"]
