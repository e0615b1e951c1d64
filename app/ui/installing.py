"""Adding a tool to the main window once: the ``install_*`` functions of the tool modules go through here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["install_once"]

T = TypeVar("T")


def install_once(window: Any, attribute: str, make: Callable[[Any], T], then: Callable[[T], object] | None = None) -> T:
    """``window.<attribute>``, made by ``make(window)`` the first time (then ``then(tool)`` runs, once the window
    holds the tool, for wiring that looks it up there); a second call returns the same tool."""
    tool = getattr(window, attribute, None)
    if tool is None:
        tool = make(window)
        setattr(window, attribute, tool)
        if then is not None:
            then(tool)
    return tool
