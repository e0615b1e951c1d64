"""The study/series browser: what is in an exam folder (patient, study, series, thumbnails) before loading one.

Radiologists drop whole exam folders on the workstation.  :func:`install_series_browser` makes the window scan a
dropped or chosen folder in the background first; when it holds more than one series, :class:`SeriesBrowserDialog`
lists them grouped by patient and study, with size, spacing, geometry warnings and a thumbnail, and loads the chosen
one (optionally tilt-corrected or resampled) through the window's task runner.

Patient identity (name, ID, birth date) is read for display in the dialog only (:mod:`imaging.dicom.study_info`):
it is never logged and never reaches the case.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import MethodType
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QStyle,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.case import Case, VolumeNode
from app.ui.tasks import TaskRunner
from app.ui.thumbnails import THUMBNAIL_SIZE, ThumbnailLoader, cached_thumbnail, to_qimage
from imaging.dicom import NoDicomFoundError, ScanResult, SeriesInfo, load_series, scan_folder
from imaging.dicom.study_info import StudyIdentity, read_study_identity

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow

__all__ = [
    "FolderScan",
    "SeriesBrowserDialog",
    "case_from_volume",
    "install_series_browser",
    "load_series_case",
    "open_series",
    "scan_for_browser",
    "skipped_summary",
    "volume_case_name",
]

log = logging.getLogger(__name__)

SERIES_ROLE = Qt.ItemDataRole.UserRole + 1
COLUMNS = ("Preview", "Series", "Description", "Modality", "Images", "Size (x×y×z)", "Spacing (mm)", "Warnings")
(THUMBNAIL_COLUMN, NUMBER_COLUMN, DESCRIPTION_COLUMN, MODALITY_COLUMN, IMAGES_COLUMN, SIZE_COLUMN, SPACING_COLUMN,
 WARNINGS_COLUMN) = range(len(COLUMNS))
SERIES_COLUMN = THUMBNAIL_COLUMN  # holds the series index (SERIES_ROLE) and the thumbnail
SMALL_ICON = 18

TILT_PREFIX = "gantry tilt:"
SPACING_PREFIXES = ("missing slice(s)", "non-uniform slice spacing")


# --- worker side (no Qt widgets) --------------------------------------------------------------------------------
def volume_case_name(volume, fallback: str) -> str:
    """The name of a case made of one DICOM volume: its series description, else ``fallback``."""
    return str(volume.metadata.get("series_description") or volume.metadata.get("SeriesDescription") or fallback)


def case_from_volume(volume, name: str) -> Case:
    """A new, unmodified case holding ``volume`` as its only node, both called ``name``."""
    case = Case(name)
    case.add(VolumeNode(volume, name))
    case.mark_saved(None)
    return case


def load_series_case(series: SeriesInfo, progress, cancel, *, tilt_correct: bool = False,
                     resample_uniform: bool = False, fallback_name: str = "") -> Case:
    """Load ``series`` (worker thread) and wrap it in a case, as ``load_path`` does for a DICOM folder."""
    volume = load_series(series, tilt_correct=tilt_correct, resample_uniform=resample_uniform, progress=progress,
                         cancel=cancel)
    if cancel.is_set():
        raise InterruptedError("cancelled")
    return case_from_volume(volume, volume_case_name(volume, fallback_name or series.description or "DICOM"))


@dataclass
class FolderScan:
    """A scanned folder: the series found, the skipped files and, for display only, each series' patient/study."""

    folder: Path
    result: ScanResult
    identities: dict[str, StudyIdentity] = field(default_factory=dict, repr=False)

    def identity(self, series: SeriesInfo) -> StudyIdentity:
        return self.identities.get(series.series_uid, StudyIdentity())


def scan_for_browser(folder: str | Path, progress, cancel) -> FolderScan:
    """Scan ``folder`` (headers only) and read the display identity from the first file of each series."""
    folder = Path(folder)
    result = scan_folder(folder, progress=lambda f, m: progress(0.95 * f, m), cancel=cancel)
    identities: dict[str, StudyIdentity] = {}
    by_file: dict[Path, StudyIdentity] = {}
    for series in result.series:
        if cancel.is_set():
            raise InterruptedError("cancelled")
        first = series.files[0]
        if first not in by_file:
            by_file[first] = read_study_identity(first)
        identities[series.series_uid] = by_file[first]
    progress(1.0, f"Found {len(result.series)} series")
    return FolderScan(folder, result, identities)


def _skip_category(reason: str) -> str:
    lowered = reason.lower()
    for needle, label in (("not dicom", "not DICOM"), ("gzip", "gzip"), ("dicomdir", "DICOMDIR"),
                          ("no image in this dicom", "no image (SR, PR...)"), ("empty file", "empty"),
                          ("truncated", "truncated"), ("unreadable", "unreadable"), ("cannot be opened", "unreadable"),
                          ("without seriesinstanceuid", "no series UID")):
        if needle in lowered:
            return label
    return reason.split(" (")[0].split(":")[0]


def skipped_summary(skipped: list[tuple[Path, str]]) -> str:
    """``"37 files skipped: 30 not DICOM, 5 gzip, 2 DICOMDIR"`` ("" when nothing was skipped)."""
    if not skipped:
        return ""
    counts = Counter(_skip_category(reason) for _, reason in skipped)
    noun = "file" if len(skipped) == 1 else "files"
    return f"{len(skipped)} {noun} skipped: " + ", ".join(
        f"{n} {label}" for label, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].lower())))


def best_series(series: list[SeriesInfo]) -> SeriesInfo | None:
    """The series loaded by default: the volume with the most images (the first one on ties)."""
    volumes = [s for s in series if s.is_volume]
    return max(volumes, key=lambda s: s.n_images) if volumes else None


def _short_warnings(series: SeriesInfo) -> str:
    if not series.is_volume:
        why = series.warnings[-1] if series.warnings else "no 3-D geometry"
        return "Not a volume: " + why.split(":")[0].split(" -- ")[0]
    labels = []
    for warning in series.warnings:
        lowered = warning.lower()
        if lowered.startswith(TILT_PREFIX):
            angle = warning.split("stacked at ")[-1].split("°")[0] if "stacked at " in warning else ""
            labels.append(f"Gantry tilt {angle}°" if angle else "Gantry tilt")
        elif lowered.startswith("missing slice"):
            labels.append("Missing slice(s)")
        elif lowered.startswith("non-uniform"):
            labels.append("Irregular spacing")
        elif " split into " in lowered:
            labels.append("Split series")
        elif lowered.startswith("... and "):
            continue
        else:
            labels.append(warning.split(":")[0].split(" -- ")[0][:40])
    return ", ".join(dict.fromkeys(labels))


def _has_tilt(series: SeriesInfo) -> bool:
    return any(w.lower().startswith(TILT_PREFIX) for w in series.warnings)


def _has_irregular_spacing(series: SeriesInfo) -> bool:
    return any(w.lower().startswith(SPACING_PREFIXES) for w in series.warnings)


def _size_text(series: SeriesInfo) -> str:
    if series.geometry is not None:
        x, y, z = series.geometry.size_xyz
        return f"{x}×{y}×{z}"
    return f"{series.metadata.get('columns', '?')}×{series.metadata.get('rows', '?')} ({series.n_images} img)"


def _spacing_text(series: SeriesInfo) -> str:
    if series.geometry is None:
        return "—"
    sx, sy, sz = (float(v) for v in series.geometry.spacing)
    return f"{sx:.3g}×{sy:.3g}×{sz:.3g}"


# --- the dialog -------------------------------------------------------------------------------------------------
class SeriesBrowserDialog(QDialog):
    """Lists the series of a folder by patient and study and lets the user choose the one to load.

    Parameters
    ----------
    folder : path
        The exam folder.
    parent : QWidget, optional
    scan : FolderScan, optional
        An already scanned folder; without it the dialog scans ``folder`` in the background (progress, Cancel).

    Signals
    -------
    scan_done()
        The rows are shown (the scan finished or was given).
    load_requested(object, bool, bool)
        ``(series, tilt_correct, resample_uniform)`` when the user accepts (Load, Enter or a double-click).
    """

    scan_done = Signal()
    load_requested = Signal(object, bool, bool)

    def __init__(self, folder: str | Path, parent: QWidget | None = None, *, scan: FolderScan | None = None) -> None:
        super().__init__(parent)
        self.folder = Path(folder)
        self.scan: FolderScan | None = None
        self._items: list[QTreeWidgetItem] = []  # one per series, in scan order
        self.setWindowTitle(f"Series in {self.folder.name or self.folder}")
        self.setObjectName("SeriesBrowser")
        self.resize(1080, 640)
        self.setSizeGripEnabled(True)
        style = self.style()

        def small(pixmap: QStyle.StandardPixmap) -> QIcon:
            # A fixed-size pixmap is never scaled up to the view's (thumbnail-sized) icon size.
            return QIcon(style.standardIcon(pixmap).pixmap(SMALL_ICON, SMALL_ICON))

        self._warning_icon = small(QStyle.StandardPixmap.SP_MessageBoxWarning)
        self._error_icon = small(QStyle.StandardPixmap.SP_MessageBoxCritical)
        self._ok_icon = small(QStyle.StandardPixmap.SP_DialogApplyButton)
        self._study_icon = small(QStyle.StandardPixmap.SP_DirOpenIcon)
        self._patient_icon = small(QStyle.StandardPixmap.SP_DirHomeIcon)
        placeholder = QPixmap(THUMBNAIL_SIZE, THUMBNAIL_SIZE)
        placeholder.fill(QColor("#111317"))
        self._placeholder = QIcon(placeholder)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 10)
        layout.setSpacing(8)
        self.folder_label = QLabel(f"<b>Exam folder</b>&nbsp;&nbsp;{self.folder}")
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.folder_label)

        progress_row = QHBoxLayout()
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(False)
        self.status_label = QLabel("Scanning…")
        progress_row.addWidget(self.status_label, 1)
        progress_row.addWidget(self.progress_bar)
        layout.addLayout(progress_row)

        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        self.tree.setAlternatingRowColors(True)
        self.tree.setRootIsDecorated(True)
        self.tree.setIndentation(16)
        self.tree.setAllColumnsShowFocus(True)
        self.tree.setSelectionMode(QTreeWidget.SelectionMode.SingleSelection)
        self.tree.setExpandsOnDoubleClick(False)
        header = self.tree.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in ((THUMBNAIL_COLUMN, 2 * 16 + THUMBNAIL_SIZE + 14), (NUMBER_COLUMN, 58),
                              (DESCRIPTION_COLUMN, 230), (MODALITY_COLUMN, 72), (IMAGES_COLUMN, 60),
                              (SIZE_COLUMN, 110), (SPACING_COLUMN, 150)):
            header.resizeSection(column, width)
        for column in (NUMBER_COLUMN, MODALITY_COLUMN, IMAGES_COLUMN):
            self.tree.headerItem().setTextAlignment(column, Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.tree, 1)

        skipped_row = QHBoxLayout()
        self.skipped_label = QLabel("")
        self.skipped_label.setStyleSheet("color: #9aa3ad;")
        self.skipped_button = QToolButton()
        self.skipped_button.setText("Details")
        self.skipped_button.setCheckable(True)
        self.skipped_button.setArrowType(Qt.ArrowType.RightArrow)
        self.skipped_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.skipped_button.setAutoRaise(True)
        self.skipped_button.toggled.connect(self._toggle_skipped)
        skipped_row.addWidget(self.skipped_label)
        skipped_row.addWidget(self.skipped_button)
        skipped_row.addStretch(1)
        layout.addLayout(skipped_row)
        self.skipped_list = QListWidget()
        self.skipped_list.setMaximumHeight(120)
        self.skipped_list.hide()
        layout.addWidget(self.skipped_list)
        self.skipped_label.hide()
        self.skipped_button.hide()

        self.details_label = QLabel("")
        self.details_label.setWordWrap(True)
        self.details_label.setTextFormat(Qt.TextFormat.RichText)
        self.details_label.setMinimumHeight(36)
        self.details_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.details_label)

        bottom = QHBoxLayout()
        self.tilt_check = QCheckBox("Correct gantry &tilt")
        self.tilt_check.setToolTip("Shear each slice onto an orthogonal grid (enabled for gantry-tilted series)")
        self.resample_check = QCheckBox("&Resample to uniform spacing")
        self.resample_check.setToolTip("Interpolate onto evenly spaced slices (enabled when slices are missing or "
                                       "irregularly spaced)")
        bottom.addWidget(self.tilt_check)
        bottom.addSpacing(12)
        bottom.addWidget(self.resample_check)
        bottom.addStretch(1)
        self.buttons = QDialogButtonBox()
        self.load_button = QPushButton("&Load")
        self.load_button.setDefault(True)
        self.load_button.setAutoDefault(True)
        self.buttons.addButton(self.load_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        bottom.addWidget(self.buttons)
        layout.addLayout(bottom)
        self._set_options_for(None)
        self.load_button.setEnabled(False)

        self.tree.currentItemChanged.connect(lambda current, _previous: self._on_current_changed(current))
        self.tree.itemDoubleClicked.connect(self._on_double_clicked)
        QShortcut(QKeySequence("Ctrl+F"), self, activated=self.tree.setFocus)

        self.thumbnails = ThumbnailLoader(self)
        self.thumbnails.ready.connect(self._on_thumbnail)
        self.thumbnails.failed.connect(self._on_thumbnail_failed)
        self.runner = TaskRunner(self)
        self.runner.progress.connect(self._on_scan_progress)
        self.runner.finished.connect(self._on_scan_finished)
        self.runner.failed.connect(self._on_scan_failed)
        self.runner.cancelled.connect(lambda: self.status_label.setText("Scan cancelled."))
        if scan is not None:
            self._show_scan(scan)
        else:
            self.runner.start(lambda progress, cancel: scan_for_browser(self.folder, progress, cancel),
                              f"Scanning {self.folder.name}")

    # --- public API -----------------------------------------------------------------------------------------------
    @property
    def series(self) -> list[SeriesInfo]:
        """Every series found (scan order), empty while scanning."""
        return list(self.scan.result.series) if self.scan is not None else []

    def item_for(self, series: SeriesInfo) -> QTreeWidgetItem:
        """The tree row of ``series``."""
        return self._items[self.series.index(series)]

    def selected_series(self) -> SeriesInfo | None:
        """The series under the cursor, or None (a patient/study row or nothing)."""
        item = self.tree.currentItem()
        index = item.data(SERIES_COLUMN, SERIES_ROLE) if item is not None else None
        return self.series[index] if index is not None else None

    def select_series(self, series: SeriesInfo) -> None:
        """Put the cursor on ``series``' row."""
        item = self.item_for(series)
        self.tree.setCurrentItem(item)
        self.tree.scrollToItem(item)

    def options(self) -> dict[str, bool]:
        """``tilt_correct`` and ``resample_uniform`` as ticked (and enabled) for the selected series."""
        return {"tilt_correct": self.tilt_check.isEnabled() and self.tilt_check.isChecked(),
                "resample_uniform": self.resample_check.isEnabled() and self.resample_check.isChecked()}

    def thumbnail(self, series: SeriesInfo) -> QPixmap:
        """The thumbnail shown for ``series`` (the placeholder until it is decoded)."""
        return self.item_for(series).icon(SERIES_COLUMN).pixmap(THUMBNAIL_SIZE, THUMBNAIL_SIZE)

    def thumbnails_done(self) -> bool:
        """True when every thumbnail was decoded (or failed)."""
        return self.scan is not None and not self.thumbnails.running

    # --- scanning -------------------------------------------------------------------------------------------------
    def _on_scan_progress(self, fraction: float, message: str) -> None:
        self.progress_bar.setValue(int(fraction * 1000))
        self.status_label.setText(message)

    def _on_scan_finished(self, scan: object) -> None:
        if isinstance(scan, FolderScan):
            self._show_scan(scan)

    def _on_scan_failed(self, message: str) -> None:
        self.progress_bar.hide()
        self.status_label.setText(f"<span style='color:#ff8a80'>Cannot scan this folder: {message}</span>")

    def _show_scan(self, scan: FolderScan) -> None:
        self.scan = scan
        self.progress_bar.hide()
        series = scan.result.series
        volumes = sum(s.is_volume for s in series)
        studies = len({s.study_uid for s in series})
        self.status_label.setText(
            f"{len(series)} series in {studies} stud{'y' if studies == 1 else 'ies'}"
            + (f" ({len(series) - volumes} cannot be loaded as a volume)" if volumes < len(series) else "")
            if series else "<span style='color:#ff8a80'>No DICOM image series in this folder.</span>")
        self._fill_tree(scan)
        self._show_skipped(scan.result.skipped)
        best = best_series(series)
        if best is not None:
            self.select_series(best)
        self.tree.setFocus()
        order = list(range(len(series)))
        if best is not None:
            first = series.index(best)
            order.remove(first)
            order.insert(0, first)
        pending = [i for i in order if cached_thumbnail(series[i]) is None]
        for i in order:
            cached = cached_thumbnail(series[i])
            if cached is not None:
                self._on_thumbnail(i, *cached)
        if pending:
            self.thumbnails.start(series, pending)
        self.scan_done.emit()

    def _fill_tree(self, scan: FolderScan) -> None:
        self.tree.clear()
        self._items = []
        bold = QFont(self.tree.font())
        bold.setBold(True)
        patients: dict[tuple[str, str], QTreeWidgetItem] = {}
        studies: dict[tuple[tuple[str, str], str], QTreeWidgetItem] = {}
        study_counts: Counter = Counter()
        disabled = QBrush(self.palette().color(self.palette().ColorGroup.Disabled, self.palette().ColorRole.Text))
        for index, series in enumerate(scan.result.series):
            identity = scan.identity(series)
            patient = patients.get(identity.patient_key)
            if patient is None:
                patient = QTreeWidgetItem(self.tree, [identity.patient_label])
                patient.setIcon(SERIES_COLUMN, self._patient_icon)
                patient.setFont(SERIES_COLUMN, bold)
                patient.setFlags(Qt.ItemFlag.ItemIsEnabled)
                patient.setFirstColumnSpanned(True)
                patients[identity.patient_key] = patient
            study_key = (identity.patient_key, series.study_uid)
            study = studies.get(study_key)
            if study is None:
                study = QTreeWidgetItem(patient)
                study.setIcon(SERIES_COLUMN, self._study_icon)
                study.setFlags(Qt.ItemFlag.ItemIsEnabled)
                study.setFirstColumnSpanned(True)
                study.setData(SERIES_COLUMN, Qt.ItemDataRole.UserRole, identity)
                studies[study_key] = study
            study_counts[study_key] += 1
            self._items.append(self._series_item(study, index, series, disabled))
        for key, study in studies.items():
            identity = study.data(SERIES_COLUMN, Qt.ItemDataRole.UserRole)
            date = identity.study_date or "Unknown date"
            if identity.study_time:
                date += f" {identity.study_time[:2]}:{identity.study_time[2:4]}"
            description = identity.study_description or "(no study description)"
            count = study_counts[key]
            study.setText(SERIES_COLUMN, f"{date}   ·   {description}   ·   {count} series")
            study.setToolTip(SERIES_COLUMN, f"Study {key[1]}")
        self.tree.expandAll()

    def _series_item(self, parent: QTreeWidgetItem, index: int, series: SeriesInfo, disabled: QBrush
                     ) -> QTreeWidgetItem:
        number = f"#{series.series_number}" if series.series_number is not None else "#—"
        item = QTreeWidgetItem(parent, [
            "", number, series.description or "(no description)", series.modality or "?", str(series.n_images),
            _size_text(series), _spacing_text(series), _short_warnings(series)])
        item.setData(SERIES_COLUMN, SERIES_ROLE, index)
        item.setIcon(SERIES_COLUMN, self._placeholder)
        item.setSizeHint(SERIES_COLUMN, QSize(THUMBNAIL_SIZE + 4, THUMBNAIL_SIZE + 6))
        bold = QFont(self.tree.font())
        bold.setBold(True)
        item.setFont(NUMBER_COLUMN, bold)
        for column in (NUMBER_COLUMN, MODALITY_COLUMN, IMAGES_COLUMN):
            item.setTextAlignment(column, Qt.AlignmentFlag.AlignCenter)
        for column in (SIZE_COLUMN, SPACING_COLUMN):
            item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        uid_tip = f"Series {series.series_uid}\n{series.n_files} file(s), first: {series.files[0]}"
        for column in range(WARNINGS_COLUMN):
            item.setToolTip(column, uid_tip)
        if series.warnings:
            item.setIcon(WARNINGS_COLUMN, self._warning_icon if series.is_volume else self._error_icon)
            item.setToolTip(WARNINGS_COLUMN, "\n\n".join(f"• {w}" for w in series.warnings))
        else:
            item.setIcon(WARNINGS_COLUMN, self._ok_icon)
            item.setToolTip(WARNINGS_COLUMN, "No geometry warning")
        if not series.is_volume:
            item.setFlags(item.flags() & ~(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable))
            for column in range(len(COLUMNS)):
                item.setForeground(column, disabled)
        return item

    def _show_skipped(self, skipped: list[tuple[Path, str]]) -> None:
        summary = skipped_summary(skipped)
        self.skipped_label.setText(summary)
        self.skipped_label.setVisible(bool(summary))
        self.skipped_button.setVisible(bool(summary))
        self.skipped_list.clear()
        lines = []
        for path, reason in skipped:
            try:
                shown = path.relative_to(self.folder)
            except ValueError:
                shown = path
            lines.append(f"{shown} — {reason}")
        self.skipped_list.addItems(lines)
        tip = "\n".join(lines[:40]) + (f"\n… and {len(lines) - 40} more" if len(lines) > 40 else "")
        self.skipped_label.setToolTip(tip)

    def _toggle_skipped(self, shown: bool) -> None:
        self.skipped_list.setVisible(shown)
        self.skipped_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    # --- thumbnails -----------------------------------------------------------------------------------------------
    def _on_thumbnail(self, index: int, pixels: object, aspect: float) -> None:
        if 0 <= index < len(self._items):
            self._items[index].setIcon(SERIES_COLUMN, QIcon(QPixmap.fromImage(to_qimage(pixels, aspect))))

    def _on_thumbnail_failed(self, index: int, reason: str) -> None:
        if 0 <= index < len(self._items):
            item = self._items[index]
            item.setToolTip(SERIES_COLUMN, f"{item.toolTip(SERIES_COLUMN)}\nNo thumbnail: {reason}")

    # --- selection and options ------------------------------------------------------------------------------------
    def _on_current_changed(self, item: QTreeWidgetItem | None) -> None:
        index = item.data(SERIES_COLUMN, SERIES_ROLE) if item is not None else None
        series = self.series[index] if index is not None else None
        self._set_options_for(series)
        self.load_button.setEnabled(series is not None and series.is_volume)
        if series is None:
            self.details_label.setText("")
            return
        head = (f"<b>#{series.series_number if series.series_number is not None else '—'} "
                f"{_html(series.description or '(no description)')}</b> — {_html(series.modality)}, "
                f"{series.n_images} images, {_size_text(series)}")
        if series.warnings:
            colour = "#e0a84a" if series.is_volume else "#ff8a80"
            body = "<br>".join(f"<span style='color:{colour}'>⚠ {_html(w)}</span>" for w in series.warnings)
            self.details_label.setText(f"{head}<br>{body}")
        else:
            self.details_label.setText(f"{head}<br><span style='color:#8fbf8f'>✓ Regular volume, no geometry "
                                       "warning</span>")

    def _set_options_for(self, series: SeriesInfo | None) -> None:
        tilt = series is not None and series.is_volume and _has_tilt(series)
        spacing = series is not None and series.is_volume and _has_irregular_spacing(series)
        self.tilt_check.setEnabled(tilt)
        self.resample_check.setEnabled(spacing)
        self.tilt_check.setChecked(tilt)  # both are what a radiologist wants by default when relevant
        self.resample_check.setChecked(spacing)

    def _on_double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        index = item.data(SERIES_COLUMN, SERIES_ROLE)
        if index is not None and self.series[index].is_volume:
            self.tree.setCurrentItem(item)
            self.accept()

    # --- closing --------------------------------------------------------------------------------------------------
    def accept(self) -> None:
        """Load the selected series (ignored while nothing loadable is selected)."""
        series = self.selected_series()
        if series is None or not series.is_volume:
            return
        options = self.options()
        self._stop()
        super().accept()
        self.load_requested.emit(series, options["tilt_correct"], options["resample_uniform"])

    def reject(self) -> None:
        """Stop scanning and decoding thumbnails and close."""
        self._stop()
        super().reject()

    def _stop(self) -> None:
        self.runner.cancel()
        self.thumbnails.stop()

    def done(self, result: int) -> None:  # also reached by closing the window
        self._stop()
        super().done(result)


def _html(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- the window integration -------------------------------------------------------------------------------------
def open_series(window: MainWindow, series: SeriesInfo, *, tilt_correct: bool = False,
                resample_uniform: bool = False, folder: str | Path | None = None) -> None:
    """Load ``series`` with its options through ``window``'s task runner and show it as the window's case."""
    window._last_load = str(folder) if folder is not None else ""
    fallback = Path(folder).name if folder is not None else ""
    label = series.description or f"series {series.series_number}"
    window.tasks.start(
        lambda progress, cancel: load_series_case(series, progress, cancel, tilt_correct=tilt_correct,
                                                  resample_uniform=resample_uniform, fallback_name=fallback),
        f"Loading {label}")


def _is_dicom_folder_candidate(path: Path) -> bool:
    return path.is_dir() and not (path / "manifest.json").is_file()


def install_series_browser(window: MainWindow) -> None:
    """Route ``window``'s DICOM folders (Open DICOM folder…, drops, recent files) through the series browser.

    The folder is scanned in the background with the window's progress bar and Cancel; one loadable series (and
    nothing else) loads directly, several open :class:`SeriesBrowserDialog`.  Files and case bundles open as before.
    """
    if getattr(window, "series_browser_installed", False):
        return
    window.series_browser_installed = True
    window.series_browser = None
    original_open_path = window.open_path
    pending: dict[str, threading.Event | Path | None] = {"folder": None}

    def open_path(self: MainWindow, path: str | Path) -> None:
        path = Path(path)
        if not path.exists() or not _is_dicom_folder_candidate(path):
            original_open_path(path)
            return
        if not self._confirm_discard():
            return
        self._last_load = ""
        pending["folder"] = path
        self.tasks.start(lambda progress, cancel: _scan_or_fail(path, progress, cancel), f"Scanning {path.name}")

    def on_finished(result: object) -> None:
        if not isinstance(result, FolderScan):
            return
        pending["folder"] = None
        series = result.result.series
        if len(series) == 1 and series[0].is_volume:
            open_series(window, series[0], folder=result.folder)
            return
        show_series_browser(window, result)

    window.open_path = MethodType(open_path, window)
    window.tasks.finished.connect(on_finished)


def _scan_or_fail(folder: Path, progress, cancel) -> FolderScan:
    scan = scan_for_browser(folder, progress, cancel)
    if not scan.result.volumes:
        from imaging.dicom.loader import nothing_found_message

        raise NoDicomFoundError(nothing_found_message(str(folder), scan.result))
    return scan


def show_series_browser(window: MainWindow, scan: FolderScan) -> SeriesBrowserDialog:
    """Open the (window-modal, non-blocking) browser on ``scan``; accepting it loads the chosen series."""
    dialog = SeriesBrowserDialog(scan.folder, window, scan=scan)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.load_requested.connect(
        lambda series, tilt, resample: open_series(window, series, tilt_correct=tilt, resample_uniform=resample,
                                                   folder=scan.folder))
    window.series_browser = dialog
    dialog.destroyed.connect(lambda *_: setattr(window, "series_browser", None))
    window.status_label.setText(f"{len(scan.result.series)} series in {scan.folder.name}: choose one to load")
    dialog.open()
    return dialog
