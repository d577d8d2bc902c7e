"""Processes of this package that end with the process that started them (no ROS import; Linux).

A process started by another one outlives it when the parent is killed outright (SIGKILL, an
interrupted test run whose ``subprocess.run`` kills its child, ``ros2 launch`` ending at once on
SIGTERM): the child is re-parented and keeps running, holding its camera topics and its DDS
shared memory. So every entry point of the package (``lsi_detector``, ``lsi``, the test helper
processes) calls ``exit_with_parent()`` first: when ``LSI_EXIT_WITH_PARENT`` is set, the kernel sends
the process SIGTERM when its parent dies (``prctl(PR_SET_PDEATHSIG)``), and the process's SIGTERM
handler then shuts it down cleanly, releasing its DDS resources.

Who starts such a process gives it ``tied_child_env()``: the variable holds the parent's pid, so a
child whose parent died before the request took effect notices (its parent pid differs) and ends too.
The value ``any`` ties a process to whatever parent it has (used where the parent's pid is not known in
advance, e.g. by the test suite for every process it starts); then that early death goes unnoticed.

The kernel ties the child to the parent *thread* that forked it: start tied children from a thread that
lives as long as they should (the main thread).
"""
from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping, MutableMapping

EXIT_WITH_PARENT_VARIABLE = "LSI_EXIT_WITH_PARENT"
ANY_PARENT = "any"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def tied_child_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process that must end when this process ends (``base``: default
    ``os.environ``)."""
    env = dict(os.environ if base is None else base)
    env[EXIT_WITH_PARENT_VARIABLE] = str(os.getpid())
    return env


def exit_with_parent(environ: MutableMapping[str, str] | None = None) -> bool:
    """With ``LSI_EXIT_WITH_PARENT`` set (the parent's pid, or ``any``), ask the kernel for
    SIGTERM when the parent dies; returns whether it was asked. The variable is removed from
    ``environ`` so that this process's own children are tied only if it says so (``tied_child_env``).
    Linux only; elsewhere nothing happens. Call it first thing in an entry point, before any thread
    starts and after the SIGTERM handler is installed."""
    environ = os.environ if environ is None else environ
    value = environ.pop(EXIT_WITH_PARENT_VARIABLE, "")
    if not value or value == "0" or not sys.platform.startswith("linux"):
        return False
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if value.isdigit() and os.getppid() != int(value):
        os.kill(os.getpid(), signal.SIGTERM)  # the parent was gone before the request took effect
    return True
