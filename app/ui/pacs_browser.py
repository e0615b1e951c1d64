"""Query/Retrieve from a PACS: nodes, search fields, studies and series, retrieve with progress and Cancel.

The dialog is a thin shell over :mod:`imaging.pacs`: every network call runs off the GUI thread through a
:class:`~app.ui.tasks.TaskRunner` (one for queries, one for transfers, so that browsing series never cancels a
retrieve), and a finished retrieve -- committed to the local store and its header index by the library -- is
opened in the workstation through the window's usual DICOM-folder path (series browser when the study holds several
series).  Patient names and IDs are shown in the table only; they are never logged.

:func:`install_pacs_browser` adds *File > Query/Retrieve from PACS…* to the window.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.ui.tasks import TaskRunner
from imaging.pacs import (
    RETRIEVE_METHODS,
    DicomWebNode,
    DimseNode,
    LocalStore,
    Node,
    NodeSettings,
    PacsError,
    RetrieveResult,
    SeriesRecord,
    StudyQuery,
    StudyRecord,
    echo,
    find_series,
    find_studies,
    load_settings,
    methods_for,
    retrieve,
    save_settings,
    send,
)
from imaging.pacs.credentials import get_password, password_storage, set_password

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow

__all__ = ["NodeEditorDialog", "PacsBrowserDialog", "install_pacs_browser", "show_pacs_browser"]

MODALITIES = ("", "CT", "MR", "PT", "US", "XA", "CR", "DX", "NM", "SEG", "RTSTRUCT", "SC", "OT")
STUDY_COLUMNS = ("Patient / series", "Patient ID", "Date", "Description", "Modalities", "Series", "Images")
_UID_ROLE = Qt.ItemDataRole.UserRole
_LOADED_ROLE = Qt.ItemDataRole.UserRole + 1


class NodeEditorDialog(QDialog):
    """Add or edit one node: a DIMSE node (AE title, host, port) or a DICOMweb endpoint (URL, TLS, user)."""

    def __init__(self, node: Node | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("PACS node")
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.kind = QComboBox()
        self.kind.addItems(["DICOM (DIMSE)", "DICOMweb"])
        self.name = QLineEdit()
        self.ae_title, self.host, self.port = QLineEdit(), QLineEdit(), QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(104)
        self.calling_ae, self.move_destination, self.storage_port = QLineEdit("SURGITWIN"), QLineEdit(), QSpinBox()
        self.storage_port.setRange(1, 65535)
        self.storage_port.setValue(11113)
        self.url, self.username, self.ca_bundle = QLineEdit(), QLineEdit(), QLineEdit()
        self.url.setPlaceholderText("https://pacs.example.org/dicom-web")
        self.ca_bundle.setPlaceholderText("PEM file of the hospital's certificate authority (optional)")
        self.verify_tls = QCheckBox("Verify the server's TLS certificate")
        self.verify_tls.setChecked(True)
        self.timeout = QDoubleSpinBox()
        self.timeout.setRange(1, 600)
        self.timeout.setValue(10)
        self.timeout.setSuffix(" s")

        dimse = QWidget()
        form = QFormLayout(dimse)
        form.addRow("PACS AE title", self.ae_title)
        form.addRow("Host", self.host)
        form.addRow("Port", self.port)
        form.addRow("Our AE title", self.calling_ae)
        form.addRow("C-MOVE destination AE", self.move_destination)
        form.addRow("Our storage port (C-MOVE)", self.storage_port)
        web = QWidget()
        form = QFormLayout(web)
        form.addRow("URL", self.url)
        form.addRow("", self.verify_tls)
        form.addRow("CA bundle", self.ca_bundle)
        form.addRow("User name", self.username)
        form.addRow("Password", self.password_edit)
        self.password_note = QLabel(password_storage())
        self.password_note.setWordWrap(True)
        form.addRow("", self.password_note)
        self.pages = QStackedWidget()
        self.pages.addWidget(dimse)
        self.pages.addWidget(web)
        self.kind.currentIndexChanged.connect(self.pages.setCurrentIndex)

        top = QFormLayout()
        top.addRow("Kind", self.kind)
        top.addRow("Name", self.name)
        top.addRow("Timeout", self.timeout)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.error_label = QLabel("")
        self.error_label.setStyleSheet("color: #c0392b")
        self.error_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.pages)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)
        self.node: Node | None = None
        if node is not None:
            self.set_node(node)

    def set_node(self, node: Node) -> None:
        """Fill the fields from ``node``."""
        self.name.setText(node.name)
        self.timeout.setValue(node.timeout_s)
        if isinstance(node, DimseNode):
            self.kind.setCurrentIndex(0)
            self.ae_title.setText(node.ae_title)
            self.host.setText(node.host)
            self.port.setValue(node.port)
            self.calling_ae.setText(node.calling_ae)
            self.move_destination.setText(node.move_destination)
            self.storage_port.setValue(node.storage_port)
        else:
            self.kind.setCurrentIndex(1)
            self.url.setText(node.url)
            self.verify_tls.setChecked(node.verify_tls)
            self.ca_bundle.setText(node.ca_bundle)
            self.username.setText(node.username)
            if node.username and get_password(node.name, node.username):
                self.password_edit.setPlaceholderText("(remembered)")

    def build_node(self) -> Node:
        """The node described by the fields; raises :class:`~imaging.pacs.PacsConfigError` when invalid."""
        if self.kind.currentIndex() == 0:
            return DimseNode(self.name.text(), self.ae_title.text(), self.host.text(), self.port.value(),
                             calling_ae=self.calling_ae.text() or "SURGITWIN",
                             move_destination=self.move_destination.text(), storage_port=self.storage_port.value(),
                             timeout_s=self.timeout.value())
        return DicomWebNode(self.name.text(), self.url.text(), verify_tls=self.verify_tls.isChecked(),
                            ca_bundle=self.ca_bundle.text().strip(), username=self.username.text().strip(),
                            timeout_s=self.timeout.value())

    def accept(self) -> None:
        """Validate; on success remember the password (keyring or memory) and close."""
        try:
            node = self.build_node()
        except PacsError as exc:
            self.error_label.setText(str(exc))
            return
        if isinstance(node, DicomWebNode) and node.username and self.password_edit.text():
            set_password(node.name, node.username, self.password_edit.text())
        self.node = node
        super().accept()


class PacsBrowserDialog(QDialog):
    """Search a PACS and retrieve studies into the local store.

    Parameters
    ----------
    settings : NodeSettings, optional
        Nodes and store folder (default: :func:`~imaging.pacs.load_settings`).
    settings_path : path, optional
        Where node edits are saved (default: the user's ``pacs_nodes.json``).
    parent : QWidget, optional
        Usually the main window.

    Signals
    -------
    retrieved(object)
        A :class:`~imaging.pacs.RetrieveResult` after a successful retrieve.
    """

    retrieved = Signal(object)

    def __init__(self, settings: NodeSettings | None = None, settings_path: str | Path | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Query/Retrieve from PACS")
        self.resize(1000, 640)
        self.settings_path = settings_path
        try:
            self.settings = settings if settings is not None else load_settings(settings_path)
        except PacsError as exc:
            QMessageBox.warning(self, "PACS settings", str(exc))
            self.settings = NodeSettings()
        self.queries = TaskRunner(self)
        self.transfers = TaskRunner(self)
        self.last_result: RetrieveResult | None = None
        self.studies: list[StudyRecord] = []
        self._build()
        self._fill_nodes()

        self.queries.finished.connect(self._on_query_finished)
        self.queries.failed.connect(self._on_error)
        self.queries.started.connect(lambda text: self.status.setText(f"{text}…"))
        self.transfers.started.connect(self._on_transfer_started)
        self.transfers.progress.connect(self._on_transfer_progress)
        self.transfers.finished.connect(self._on_transfer_finished)
        self.transfers.failed.connect(self._on_transfer_failed)
        self.transfers.cancelled.connect(self._on_transfer_cancelled)

    # --- construction ---------------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.node_combo = QComboBox()
        self.node_combo.setMinimumWidth(260)
        self.node_combo.currentIndexChanged.connect(self._on_node_changed)
        self.add_node_button = QPushButton("Add…")
        self.edit_node_button = QPushButton("Edit…")
        self.remove_node_button = QPushButton("Remove")
        self.echo_button = QPushButton("Test connection")
        self.add_node_button.clicked.connect(lambda: self.edit_node(None))
        self.edit_node_button.clicked.connect(lambda: self.edit_node(self.current_node()))
        self.remove_node_button.clicked.connect(self.remove_node)
        self.echo_button.clicked.connect(self.test_connection)
        nodes_row = QHBoxLayout()
        nodes_row.addWidget(QLabel("Node"))
        nodes_row.addWidget(self.node_combo, 1)
        for button in (self.add_node_button, self.edit_node_button, self.remove_node_button, self.echo_button):
            nodes_row.addWidget(button)

        self.patient_id = QLineEdit()
        self.patient_name = QLineEdit()
        self.patient_name.setPlaceholderText("starts with; * and ? as wildcards")
        self.study_date = QLineEdit()
        self.study_date.setPlaceholderText("YYYYMMDD, or a range YYYYMMDD-YYYYMMDD")
        self.modality = QComboBox()
        self.modality.setEditable(True)
        self.modality.addItems(MODALITIES)
        self.accession = QLineEdit()
        self.search_button = QPushButton("Search")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.search)
        form = QFormLayout()
        form.addRow("Patient ID", self.patient_id)
        form.addRow("Patient name", self.patient_name)
        form.addRow("Study date", self.study_date)
        query_row = QHBoxLayout()
        query_row.addLayout(form, 2)
        form2 = QFormLayout()
        form2.addRow("Modality", self.modality)
        form2.addRow("Accession", self.accession)
        form2.addRow("", self.search_button)
        query_row.addLayout(form2, 1)

        self.results = QTreeWidget()
        self.results.setHeaderLabels(list(STUDY_COLUMNS))
        self.results.setSelectionMode(QTreeWidget.SelectionMode.ExtendedSelection)
        self.results.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.results.itemExpanded.connect(self._on_study_expanded)
        self.results.itemSelectionChanged.connect(self._update_buttons)

        self.method_combo = QComboBox()
        self.retrieve_button = QPushButton("Retrieve")
        self.retrieve_button.clicked.connect(self.retrieve_selected)
        self.send_button = QPushButton("Send files…")
        self.send_button.setToolTip("Send DICOM files (a derived series, a segmentation…) to this node")
        self.send_button.clicked.connect(self._choose_and_send)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_transfer)
        self.progress.hide()
        self.cancel_button.hide()
        action_row = QHBoxLayout()
        action_row.addWidget(QLabel("Method"))
        action_row.addWidget(self.method_combo)
        action_row.addWidget(self.retrieve_button)
        action_row.addWidget(self.send_button)
        action_row.addStretch(1)
        action_row.addWidget(self.progress, 2)
        action_row.addWidget(self.cancel_button)

        self.status = QLabel("Choose a node and search.")
        self.status.setWordWrap(True)
        self.store_label = QLabel(f"Retrieved studies go to {self.settings.store}")
        self.store_label.setStyleSheet("color: gray")
        layout = QVBoxLayout(self)
        layout.addLayout(nodes_row)
        layout.addLayout(query_row)
        layout.addWidget(self.results, 1)
        layout.addLayout(action_row)
        layout.addWidget(self.status)
        layout.addWidget(self.store_label)

    def _fill_nodes(self, select: str | None = None) -> None:
        self.node_combo.blockSignals(True)
        self.node_combo.clear()
        for node in self.settings.nodes:
            label = f"{node.name}  —  {node.ae_title}@{node.host}:{node.port}" if isinstance(node, DimseNode) \
                else f"{node.name}  —  {node.url}"
            self.node_combo.addItem(label, node.name)
        if select is not None:
            self.node_combo.setCurrentIndex(max(self.node_combo.findData(select), 0))
        self.node_combo.blockSignals(False)
        self._on_node_changed()

    def current_node(self) -> Node | None:
        """The node chosen in the combo box."""
        name = self.node_combo.currentData()
        return next((n for n in self.settings.nodes if n.name == name), None)

    def _on_node_changed(self, *_args: object) -> None:
        node = self.current_node()
        self.method_combo.clear()
        if node is not None:
            for method in methods_for(node):
                self.method_combo.addItem(RETRIEVE_METHODS[method], method)
        self.results.clear()
        self.studies = []
        self._update_buttons()

    def _update_buttons(self) -> None:
        has_node = self.current_node() is not None
        busy = self.transfers.busy
        for w in (self.edit_node_button, self.remove_node_button, self.echo_button, self.search_button,
                  self.send_button):
            w.setEnabled(has_node and not (busy and w is self.send_button))
        self.retrieve_button.setEnabled(has_node and not busy and bool(self.selected_targets()))

    # --- nodes ----------------------------------------------------------------------------------------------------
    def _save(self) -> None:
        try:
            save_settings(self.settings, self.settings_path)
        except OSError as exc:
            self._on_error(f"the PACS settings could not be saved ({exc.strerror or exc})")

    def add_node(self, node: Node) -> None:
        """Add (or replace) a node, save the settings and select it."""
        self.settings.put(node)
        self._save()
        self._fill_nodes(select=node.name)

    def edit_node(self, node: Node | None) -> None:
        """Open the node editor (modal); a new or changed node is saved."""
        editor = NodeEditorDialog(node, self)
        if editor.exec() == QDialog.DialogCode.Accepted and editor.node is not None:
            if node is not None and node.name != editor.node.name:
                self.settings.remove(node.name)
            self.add_node(editor.node)

    def remove_node(self) -> None:
        """Forget the current node."""
        node = self.current_node()
        if node is not None:
            self.settings.remove(node.name)
            self._save()
            self._fill_nodes()

    def _password(self, node: Node) -> str | None:
        """The DICOMweb password (remembered, or asked once and remembered for the session)."""
        if not isinstance(node, DicomWebNode) or not node.username:
            return None
        password = get_password(node.name, node.username)
        if password is None:
            password, ok = QInputDialog.getText(self, "Password", f"Password of {node.username} on {node.name}",
                                                QLineEdit.EchoMode.Password)
            if not ok:
                return None
            set_password(node.name, node.username, password)
        return password

    # --- query ----------------------------------------------------------------------------------------------------
    def build_query(self) -> StudyQuery:
        """The search fields as a :class:`~imaging.pacs.StudyQuery` (raises on bad input)."""
        return StudyQuery(patient_id=self.patient_id.text(), patient_name=self.patient_name.text(),
                          study_date=self.study_date.text(), modality=self.modality.currentText(),
                          accession_number=self.accession.text())

    def search(self) -> None:
        """Query the current node for studies in the background."""
        node = self.current_node()
        if node is None:
            return
        try:
            query = self.build_query()
        except PacsError as exc:
            self._on_error(str(exc))
            return
        password = self._password(node)
        self.results.clear()
        self.queries.start(lambda _p, cancel: ("studies", find_studies(node, query, password=password,
                                                                        cancel=cancel)),
                           f"Searching {node.name}")

    def test_connection(self) -> None:
        """C-ECHO / QIDO ping in the background."""
        node = self.current_node()
        if node is not None:
            password = self._password(node)
            self.queries.start(lambda _p, _c: ("echo", echo(node, password=password)), f"Contacting {node.name}")

    def _on_query_finished(self, result: object) -> None:
        kind, payload = result  # type: ignore[misc]
        if kind == "echo":
            self.status.setText(f"{self.current_node().name} answered in {1000 * payload:.0f} ms.")
        elif kind == "studies":
            self._show_studies(payload)
        elif kind == "series":
            study_uid, series = payload
            self._show_series(study_uid, series)

    def _show_studies(self, studies: list[StudyRecord]) -> None:
        self.studies = sorted(studies, key=lambda s: (s.study_date, s.study_uid), reverse=True)
        self.results.clear()
        for study in self.studies:
            item = QTreeWidgetItem([study.patient_name.replace("^", " "), study.patient_id, _date(study.study_date),
                                    study.study_description, "/".join(study.modalities), _n(study.n_series),
                                    _n(study.n_instances)])
            item.setData(0, _UID_ROLE, study.study_uid)
            item.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)
            self.results.addTopLevelItem(item)
        self.status.setText(f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'} found. Select a study (or "
                            "expand it and select series), then Retrieve.")
        if len(self.studies) == 1:
            self.results.topLevelItem(0).setSelected(True)
        self._update_buttons()

    def _on_study_expanded(self, item: QTreeWidgetItem) -> None:
        if item.parent() is not None or item.data(0, _LOADED_ROLE):
            return
        node = self.current_node()
        if node is None:
            return
        study_uid = item.data(0, _UID_ROLE)
        password = self._password(node)
        self.queries.start(
            lambda _p, cancel: ("series", (study_uid, find_series(node, study_uid, password=password,
                                                                  cancel=cancel))),
            "Listing series")

    def _study_item(self, study_uid: str) -> QTreeWidgetItem | None:
        for i in range(self.results.topLevelItemCount()):
            item = self.results.topLevelItem(i)
            if item.data(0, _UID_ROLE) == study_uid:
                return item
        return None

    def _show_series(self, study_uid: str, series: list[SeriesRecord]) -> None:
        item = self._study_item(study_uid)
        if item is None:
            return
        item.takeChildren()
        item.setData(0, _LOADED_ROLE, True)
        for s in series:
            label = f"#{s.series_number}  " if s.series_number is not None else ""
            child = QTreeWidgetItem([f"{label}{s.series_description or '(no description)'}", "", "", "", s.modality,
                                     "", _n(s.n_instances)])
            child.setData(0, _UID_ROLE, s.series_uid)
            item.addChild(child)
        self.status.setText(f"{len(series)} series in the study.")

    def selected_targets(self) -> list[tuple[str, list[str]]]:
        """``(study_uid, [series_uid, ...])`` for the selection; an empty list means the whole study."""
        out: dict[str, list[str]] = {}
        for item in self.results.selectedItems():
            parent = item.parent()
            if parent is None:
                out[item.data(0, _UID_ROLE)] = []
            else:
                study = parent.data(0, _UID_ROLE)
                if out.get(study) != []:  # the whole study already chosen wins
                    out.setdefault(study, []).append(item.data(0, _UID_ROLE))
        return list(out.items())

    # --- retrieve and send ----------------------------------------------------------------------------------------
    def retrieve_selected(self) -> None:
        """Retrieve the selected studies/series in the background into the local store."""
        node, targets = self.current_node(), self.selected_targets()
        if node is None or not targets:
            return
        method = self.method_combo.currentData()
        password = self._password(node)
        try:
            store = LocalStore(self.settings.store)
        except OSError as exc:
            self._on_error(f"the local store {self.settings.store} cannot be used ({exc.strerror or exc})")
            return

        def work(progress, cancel) -> RetrieveResult:
            result = None
            for i, (study_uid, series_uids) in enumerate(targets):
                def part(fraction: float, message: str, i: int = i) -> None:
                    progress((i + fraction) / len(targets), message)

                result = retrieve(node, store, study_uid, series_uids, method=method, password=password,
                                  progress=part, cancel=cancel)
            return result

        self.transfers.start(work, f"Retrieving with {RETRIEVE_METHODS[method]} from {node.name}")

    def send_paths(self, paths: list[str | Path]) -> None:
        """Send files or folders to the current node in the background (C-STORE or STOW-RS)."""
        node = self.current_node()
        if node is None:
            return
        password = self._password(node)
        self.transfers.start(lambda progress, cancel: ("sent", send(node, paths, password=password,
                                                                    progress=progress, cancel=cancel)),
                             f"Sending to {node.name}")

    def _choose_and_send(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Send a folder of DICOM files", str(Path.home()))
        if folder:
            self.send_paths([folder])

    def cancel_transfer(self) -> None:
        """Stop the running retrieve or send; nothing partial is kept."""
        if self.transfers.busy:
            self.transfers.cancel()

    def _on_transfer_started(self, text: str) -> None:
        self.status.setText(f"{text}…")
        self.progress.setValue(0)
        self.progress.show()
        self.cancel_button.show()
        self._update_buttons()

    def _on_transfer_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(1000 * fraction))
        if message:
            self.status.setText(message)

    def _transfer_ended(self) -> None:
        if not self.transfers.busy:
            self.progress.hide()
            self.cancel_button.hide()
        self._update_buttons()

    def _on_transfer_finished(self, result: object) -> None:
        self._transfer_ended()
        if isinstance(result, tuple) and result and result[0] == "sent":
            self.status.setText(f"Sent {result[1]} file(s) to {self.current_node().name}.")
            return
        if isinstance(result, RetrieveResult):
            self.last_result = result
            n_series = len(result.scan.series)
            self.status.setText(f"Retrieved {result.n_instances} images ({n_series} series) with "
                                f"{RETRIEVE_METHODS[result.method]} in {result.seconds:.1f} s into "
                                f"{result.study_folder}.")
            self.retrieved.emit(result)

    def _on_transfer_failed(self, message: str) -> None:
        self._transfer_ended()
        self._on_error(message)

    def _on_transfer_cancelled(self) -> None:
        self._transfer_ended()
        self.status.setText("Cancelled; nothing was kept.")

    def _on_error(self, message: str) -> None:
        self.status.setText(f"Error: {message}")

    def done(self, result: int) -> None:
        """Closing stops background work first (its late results are ignored)."""
        self.queries.cancel()
        self.transfers.cancel()
        self.queries.wait(5000)
        self.transfers.wait(5000)
        super().done(result)


def _date(value: str) -> str:
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) == 8 and value.isdigit() else value


def _n(value: int | None) -> str:
    return "" if value is None else str(value)


def show_pacs_browser(window: MainWindow, settings_path: str | Path | None = None) -> PacsBrowserDialog:
    """Open the (non-modal) browser for ``window``; a retrieved study opens in the window."""
    dialog = getattr(window, "pacs_browser", None)
    if dialog is None:
        dialog = PacsBrowserDialog(settings_path=settings_path, parent=window)
        dialog.retrieved.connect(lambda result: _open_retrieved(window, result))
        window.pacs_browser = dialog
    dialog.show()
    dialog.raise_()
    return dialog


def _open_retrieved(window: MainWindow, result: RetrieveResult) -> None:
    volumes = result.scan.volumes
    # One volume series: open its folder (loads directly); several: the study folder (the series browser asks).
    folder = volumes[0].files[0].parent if len(volumes) == 1 else result.study_folder
    window.open_path(folder)


def install_pacs_browser(window: MainWindow) -> None:
    """Add *File > Query/Retrieve from PACS…* (after *Open image or case…*) to ``window``."""
    if getattr(window, "pacs_action", None) is not None:
        return
    window.pacs_browser = None
    action = window._action("Query/Retrieve from &PACS…", lambda: show_pacs_browser(window), None,
                            "Search a PACS (DICOM or DICOMweb), retrieve studies and send results back")
    window.pacs_action = action
    file_menu = window.open_file_action.associatedObjects()
    menus = [m for m in file_menu if hasattr(m, "insertAction") and m is not window]
    if menus:
        menus[0].insertAction(window.recent_menu.menuAction(), action)

