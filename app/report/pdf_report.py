"""The plan report as a PDF, typeset by Qt's rich-text engine from the same HTML as the web version."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QMarginsF, QUrl
from PySide6.QtGui import QImage, QPageLayout, QPageSize, QPdfWriter, QTextDocument

from app.report.content import Figure, ReportContent
from app.report.html_report import render_html

__all__ = ["ReportError", "write_pdf"]


class ReportError(RuntimeError):
    """The report could not be written; the message says why."""


def write_pdf(content: ReportContent, path: str | Path, resolution_dpi: int = 150) -> Path:
    """Write the report as an A4 PDF at ``path`` (atomically: complete or not there).

    Raises
    ------
    ReportError
        A picture is not a readable PNG, or the file cannot be written.
    """
    path = Path(path)
    document = QTextDocument()
    # QTextDocument does not decode data URIs; the pictures are handed over as named resources instead.
    for i, figure in enumerate(content.figures):
        image = QImage.fromData(figure.png, "PNG")
        if image.isNull():
            raise ReportError(f"picture {i + 1} ({figure.caption!r}) is not a readable PNG")
        document.addResource(QTextDocument.ResourceType.ImageResource, QUrl(_name(figure, i)), image)
    document.setHtml(render_html(content, image_source=_name, image_width=300))
    partial = path.with_name(f".{path.name}.partial")
    writer = QPdfWriter(str(partial))
    writer.setResolution(resolution_dpi)
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setPageMargins(QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter)
    writer.setTitle(f"{content.title}: {content.case_name}")
    writer.setCreator(content.software)
    document.setPageSize(writer.pageLayout().paintRectPixels(resolution_dpi).size().toSizeF())
    document.print_(writer)
    del writer  # closes the file
    try:
        if not partial.is_file() or partial.stat().st_size == 0:
            raise ReportError(f"could not write {path}")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def _name(_figure: Figure, index: int) -> str:
    return f"figure-{index}.png"
