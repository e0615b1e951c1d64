"""The plan report as one self-contained HTML file (pictures inlined), readable in any browser and printable."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from html import escape
from pathlib import Path

from app.report.content import Figure, ReportContent, Table

__all__ = ["render_html", "write_html"]

_CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 10pt; color: #1d2228; margin: 18px; }
h1 { font-size: 16pt; margin-bottom: 2px; }
h2 { font-size: 12pt; margin-top: 16px; border-bottom: 1px solid #b9c0ca; }
p.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 6px 0; }
th, td { border: 1px solid #b9c0ca; padding: 3px 8px; text-align: left; }
th { background: #e4e7eb; }
td.num { text-align: right; }
tr.alert td { background: #f8d7d7; color: #8a1010; font-weight: bold; }
table.figures td { border: none; padding: 0 10px 8px 0; vertical-align: top; }
span.caption { font-size: 9pt; color: #444; }
p.note { font-size: 9pt; color: #555; }
"""


def _data_uri(figure: Figure, _index: int) -> str:
    return "data:image/png;base64," + base64.b64encode(figure.png).decode("ascii")


def _is_number(text: str) -> bool:
    return bool(text) and text.replace(",", "").replace(".", "", 1).replace("-", "", 1).replace(" ", "")[:1].isdigit()


def _table_html(table: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.header)
    body = []
    for i, row in enumerate(table.rows):
        cells = "".join(f'<td class="num">{escape(c)}</td>' if _is_number(c) else f"<td>{escape(c)}</td>" for c in row)
        body.append(f'<tr class="alert">{cells}</tr>' if i in table.alerts else f"<tr>{cells}</tr>")
    note = f'<p class="note">{escape(table.note)}</p>' if table.note else ""
    return (f"<h2>{escape(table.title)}</h2>\n<table>\n<tr>{head}</tr>\n" + "\n".join(body) + f"\n</table>\n{note}")


def render_html(
    content: ReportContent, image_source: Callable[[Figure, int], str] = _data_uri, image_width: int = 320
) -> str:
    """The report as an HTML document.

    Parameters
    ----------
    content : ReportContent
        What to say.
    image_source : callable
        ``image_source(figure, index) -> src`` for each ``<img>`` (default: inline data URIs).
    image_width : int
        Display width of each picture in CSS pixels.
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(content.title)}: {escape(content.case_name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{escape(content.title)}</h1>",
        f'<p class="meta">{escape(content.case_name)} · {escape(content.created)} · {escape(content.software)}</p>',
    ]
    if content.figures:
        # A plain two-column table: both browsers and Qt's PDF typesetter (which knows no <figure>) lay it out alike.
        parts.append('<h2>Views</h2><table class="figures">')
        for row in range(0, len(content.figures), 2):
            cells = []
            for i in range(row, min(row + 2, len(content.figures))):
                figure = content.figures[i]
                cells.append(f'<td><img src="{escape(image_source(figure, i))}" width="{image_width}" '
                             f'alt="{escape(figure.caption)}"><br><span class="caption">{escape(figure.caption)}'
                             "</span></td>")
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</table>")
    parts.extend(_table_html(t) for t in content.tables)
    if not content.tables:
        parts.append('<p class="note">No segments, measurements or plans in this case yet.</p>')
    parts.extend(f'<p class="note">{escape(n)}</p>' for n in content.notes)
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(content: ReportContent, path: str | Path) -> Path:
    """Write the report as one self-contained HTML file, atomically."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(render_html(content), encoding="utf-8")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path
