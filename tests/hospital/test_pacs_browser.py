"""The Query/Retrieve browser against the real Orthanc: search, list series, retrieve into the case, cancel."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt

from imaging.dicom import load_series, scan_folder
from imaging.pacs import LocalStore
from imaging.pacs.nodes import default_settings_path

pytestmark = pytest.mark.gui

TIMEOUT_MS = 30000


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    """A workstation window with private settings, PACS node file and local store."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    from app.ui.main_window import MainWindow

    win = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    win.ask_before_discard = False
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    if getattr(win, "pacs_browser", None) is not None:
        win.pacs_browser.close()


def _open_browser(window, qtbot):
    file_menu = window.menuBar().actions()[0].menu()
    assert window.pacs_action in file_menu.actions()
    assert window.pacs_action.text() == "Query/Retrieve from &PACS…"
    window.pacs_action.trigger()
    dialog = window.pacs_browser
    qtbot.waitExposed(dialog)
    return dialog


def _add_node_with_editor(dialog, qtbot, node, password=None):
    from app.ui.pacs_browser import NodeEditorDialog

    editor = NodeEditorDialog(None, dialog)
    qtbot.addWidget(editor)
    editor.name.setText(node.name)
    editor.timeout.setValue(node.timeout_s)
    if node.kind == "dimse":
        editor.ae_title.setText(node.ae_title)
        editor.host.setText(node.host)
        editor.port.setValue(node.port)
        editor.calling_ae.setText(node.calling_ae)
        editor.storage_port.setValue(node.storage_port)
    else:
        editor.kind.setCurrentIndex(1)
        editor.url.setText(node.url)
        editor.username.setText(node.username)
        editor.password_edit.setText(password)
    editor.accept()
    assert editor.node == node, editor.error_label.text()
    dialog.add_node(editor.node)


def test_browser_searches_orthanc_and_retrieves_a_study_into_the_case(window, qtbot, tmp_path, orthanc, dimse_node,
                                                                     dicomweb_node, phantom_series, real_ct_series):
    dialog = _open_browser(window, qtbot)
    _add_node_with_editor(dialog, qtbot, dimse_node)
    _add_node_with_editor(dialog, qtbot, dicomweb_node, orthanc.password)
    saved = default_settings_path().read_text()
    assert [n["name"] for n in json.loads(saved)["nodes"]] == [dimse_node.name, dicomweb_node.name]
    assert orthanc.password not in saved  # the password never reaches the settings file

    # DICOMweb node: search by patient ID, list the series, retrieve with WADO-RS
    dialog.node_combo.setCurrentIndex(dialog.node_combo.findData(dicomweb_node.name))
    assert dialog.method_combo.currentText() == "WADO-RS"
    dialog.patient_id.setText(real_ct_series.patient_id)
    qtbot.mouseClick(dialog.search_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.results.topLevelItemCount() == 1, timeout=TIMEOUT_MS)
    study = dialog.results.topLevelItem(0)
    assert study.text(0) == "HEAD"
    assert study.text(2) == "2015-02-06"
    assert study.text(6) == "28"
    study.setExpanded(True)
    qtbot.waitUntil(lambda: study.childCount() == 1, timeout=TIMEOUT_MS)
    assert study.child(0).text(4) == "CT"
    shots = Path(os.environ.get("SURGITWIN_SCREENSHOT_DIR", tmp_path))  # to look at the dialog after a run
    assert dialog.grab().save(str(shots / "pacs_browser.png"))

    assert dialog.retrieve_button.isEnabled()
    qtbot.mouseClick(dialog.retrieve_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(window.case.volumes) == 1 and not window.tasks.busy, timeout=TIMEOUT_MS)
    assert "Retrieved 28 images (1 series) with WADO-RS" in dialog.status.text()
    original = load_series(scan_folder(real_ct_series.folder, cache=False).volumes[0], cache=False)
    np.testing.assert_array_equal(window.case.volumes[0].volume.array, original.array)
    store = LocalStore(dialog.settings.store)
    assert len(store.dicom_files()) == 28
    assert dialog.last_result.study_folder == store.study_folder(real_ct_series.study_uid)


def test_browser_cancel_mid_retrieve_keeps_nothing(window, qtbot, monkeypatch, orthanc, dimse_node, phantom_series):
    from imaging.pacs.local_store import Staging

    # Loopback C-GET of the phantom takes 0.4 s: slow the real staging down to human speed (50 ms per image) so
    # that the Cancel click lands mid-transfer whatever the machine's load.
    original_add = Staging.add_bytes

    def slow_add(self, data):
        time.sleep(0.05)
        return original_add(self, data)

    monkeypatch.setattr(Staging, "add_bytes", slow_add)
    dialog = _open_browser(window, qtbot)
    dialog.add_node(dimse_node)
    dialog.patient_id.setText(phantom_series.patient_id)
    qtbot.mouseClick(dialog.search_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.results.topLevelItemCount() == 1, timeout=TIMEOUT_MS)
    dialog.results.topLevelItem(0).setSelected(True)
    assert dialog.method_combo.currentText() == "C-GET"
    store = LocalStore(dialog.settings.store)

    def staged() -> int:
        return len(list(store.staging_root.rglob("*.dcm"))) if store.staging_root.exists() else 0

    qtbot.mouseClick(dialog.retrieve_button, Qt.MouseButton.LeftButton)
    assert dialog.cancel_button.isVisible()
    assert dialog.progress.isVisible()
    qtbot.waitUntil(lambda: staged() >= 3, timeout=TIMEOUT_MS)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.status.text() == "Cancelled; nothing was kept.", timeout=TIMEOUT_MS)
    dialog.transfers.wait(10000)
    qtbot.waitUntil(lambda: staged() == 0, timeout=TIMEOUT_MS)
    assert store.dicom_files() == []
    assert not dialog.cancel_button.isVisible()
    assert window.case.volumes == []


def test_browser_reports_a_stopped_server(window, qtbot, dimse_node):
    from dataclasses import replace

    from tests.hospital.orthanc_server import free_ports

    dialog = _open_browser(window, qtbot)
    port = free_ports(1)[0]
    dialog.add_node(replace(dimse_node, name="Nowhere", port=port))
    qtbot.mouseClick(dialog.search_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Error:"), timeout=TIMEOUT_MS)
    assert dialog.status.text() == (f"Error: cannot connect to PACS 'Nowhere' (ORTHANC@127.0.0.1:{port}): connection "
                                    f"refused, nothing listens on port {port}; check the port and that the PACS is "
                                    "running")


def test_browser_sends_a_folder_back(window, qtbot, tmp_path, orthanc, dicomweb_node, phantom_series):
    from tests.hospital.orthanc_server import derived_series

    _, series_uid, files = derived_series(phantom_series.folder, tmp_path / "derived", "Sent from the browser")
    dialog = _open_browser(window, qtbot)
    _add_node_with_editor(dialog, qtbot, dicomweb_node, orthanc.password)
    dialog.send_paths([tmp_path / "derived"])
    qtbot.waitUntil(lambda: dialog.status.text().startswith(("Sent", "Error")), timeout=TIMEOUT_MS)
    assert dialog.status.text() == f"Sent {len(files)} file(s) to {dicomweb_node.name}."
    held = orthanc.series_by_uid(series_uid)
    assert held["MainDicomTags"]["SeriesDescription"] == "Sent from the browser"
    assert len(held["Instances"]) == len(files)
