"""Standard anatomical structure names and their default colours (``resources/presets/terminology.json``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["TerminologyEntry", "find_terminology", "load_terminology"]


@dataclass(frozen=True)
class TerminologyEntry:
    """One anatomical structure: key, display name, category, colour (0..1 RGB) and alternative names."""

    key: str
    name: str
    category: str
    color: tuple[float, float, float]
    aliases: tuple[str, ...] = ()
    colour_source: str = "surgitwin"

    @property
    def color_255(self) -> tuple[int, int, int]:
        """The colour as 0..255 integers."""
        return tuple(round(c * 255) for c in self.color)  # type: ignore[return-value]


@cache
def load_terminology() -> dict[str, TerminologyEntry]:
    """Every structure in the shipped terminology, keyed by its key (``liver``, ``aorta``, ...)."""
    text = resources.files("resources").joinpath("presets/terminology.json").read_text(encoding="utf-8")
    out = {}
    for entry in json.loads(text)["structures"]:
        color = tuple(float(c) / 255.0 for c in entry["color"])
        out[entry["key"]] = TerminologyEntry(
            entry["key"], entry["name"], entry["category"], color,  # type: ignore[arg-type]
            tuple(entry.get("aliases", ())), entry.get("colour_source", "surgitwin"),
        )
    return out


def find_terminology(name: str) -> TerminologyEntry | None:
    """The entry whose key, name or alias matches ``name`` (case, spaces and underscores ignored), or None."""
    def norm(s: str) -> str:
        return s.lower().replace("_", " ").replace("-", " ").strip()

    wanted = norm(name)
    for entry in load_terminology().values():
        if wanted in (norm(entry.key), norm(entry.name), *(norm(a) for a in entry.aliases)):
            return entry
    return None
