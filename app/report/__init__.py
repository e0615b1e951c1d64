"""Plan reports: content gathered from the case, written as HTML and PDF."""

from app.report.content import Figure, ReportContent, Table, build_report_content

__all__ = ["Figure", "ReportContent", "Table", "build_report_content"]
