"""Callbacks that do not keep their owner alive.

A VTK observer or a psygnal connection holding a bound method keeps its object (a view, a window and its X
connection) alive through references Python's collector cannot see; these wrappers hold the object weakly instead.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["weak_callback"]


def weak_callback(method: Callable[..., Any], *, pass_arguments: bool = True) -> Callable[..., None]:
    """A callable that calls the bound ``method`` while its object lives and does nothing after.

    Parameters
    ----------
    method : bound method
        What to call.
    pass_arguments : bool, default True
        Whether the caller's arguments (e.g. a VTK observer's ``(caller, event)``) are passed on.
    """
    ref = weakref.WeakMethod(method)

    def call(*args: Any) -> None:
        bound = ref()
        if bound is not None:
            bound(*args) if pass_arguments else bound()

    return call
