"""The dim "night" theme: colours that do not light up a bedroom, and the Qt style sheet.

Everything is dark grey-blue with low-contrast text; stage and quality colours are muted.
"""

from __future__ import annotations

import pyqtgraph as pg
from pyqtgraph.Qt import QtGui, QtWidgets

BACKGROUND = "#07090d"
PANEL = "#0d1016"
PANEL_BORDER = "#1a1f2a"
TEXT = "#7d8697"
TEXT_DIM = "#545c6b"
TEXT_BRIGHT = "#a3acbd"
ACCENT = "#6c7fa8"
WARNING = "#a8843a"
DANGER = "#a8504a"

#: Stage code -> colour (W, N1, N2, N3, REM); -1 (unstaged) has its own grey.
STAGE_COLOURS: dict[int, str] = {
    0: "#b08d3c",  # W: dim amber
    1: "#4f9aa6",  # N1: teal
    2: "#46689f",  # N2: blue
    3: "#3b3f86",  # N3: indigo
    4: "#a8504a",  # REM: muted red
    -1: "#3a3f48",
}

#: Hypnogram row of each stage (top to bottom: W, REM, N1, N2, N3, then unstaged below).
STAGE_ROWS: dict[int, float] = {0: 4.0, 4: 3.0, 1: 2.0, 2: 1.0, 3: 0.0, -1: -1.0}

#: Channel quality status -> trace colour.
QUALITY_COLOURS: dict[str, str] = {
    "good": "#6f8f7a",
    "noisy": "#a8843a",
    "line-noise": "#a8843a",
    "clipped": "#a8504a",
    "railed": "#a8504a",
    "huge": "#a8504a",
    "flat": "#5d6470",
    "off-head": "#8a5a9c",
    "lost": "#40454f",
    "unknown": "#6c7a8f",
}

STYLE_SHEET = f"""
QWidget {{ background: {BACKGROUND}; color: {TEXT}; font-size: 10pt; }}
QMainWindow::separator {{ background: {PANEL_BORDER}; width: 2px; height: 2px; }}
QGroupBox {{ border: 1px solid {PANEL_BORDER}; border-radius: 4px; margin-top: 14px;
            padding: 4px; background: {PANEL}; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 3px; color: {TEXT_DIM}; }}
QLabel {{ background: transparent; }}
QLabel#stageLabel {{ font-size: 26pt; font-weight: bold; color: {TEXT_BRIGHT}; }}
QLabel#plainLabel {{ font-size: 13pt; color: {TEXT_BRIGHT}; }}
QLabel#logLabel {{ color: {TEXT_DIM}; font-size: 9pt; }}
QLabel#bannerLabel {{ color: {BACKGROUND}; background: {WARNING}; padding: 3px;
                      border-radius: 3px; font-weight: bold; }}
QPushButton, QToolButton {{ background: {PANEL}; border: 1px solid {PANEL_BORDER};
    border-radius: 3px; padding: 3px 8px; color: {TEXT}; }}
QPushButton:hover, QToolButton:hover {{ border-color: {ACCENT}; }}
QPushButton:checked {{ background: #1a2130; }}
QPushButton:disabled {{ color: #333a45; }}
QPushButton#startButton:enabled {{ background: #1d2e24; color: {TEXT_BRIGHT}; border-color: #6f8f7a;
    font-size: 12pt; padding: 4px 18px; }}
QComboBox, QSpinBox, QDoubleSpinBox, QTimeEdit, QLineEdit {{ background: {PANEL};
    border: 1px solid {PANEL_BORDER}; padding: 1px 4px; color: {TEXT}; }}
QComboBox QAbstractItemView {{ background: {PANEL}; color: {TEXT};
    selection-background-color: #1a2130; }}
QCheckBox {{ background: transparent; }}
QCheckBox::indicator {{ width: 11px; height: 11px; border: 1px solid {TEXT_DIM};
    background: {BACKGROUND}; border-radius: 2px; }}
QCheckBox::indicator:checked {{ background: {ACCENT}; }}
QListWidget, QTreeWidget {{ background: {PANEL}; border: 1px solid {PANEL_BORDER};
    color: {TEXT}; font-size: 9pt; }}
QHeaderView::section {{ background: {PANEL}; color: {TEXT_DIM}; border: 0px; padding: 2px; }}
QStatusBar {{ background: {PANEL}; color: {TEXT_DIM}; border-top: 1px solid {PANEL_BORDER}; }}
QStatusBar QLabel {{ padding: 0 6px; }}
QSlider::groove:horizontal {{ height: 4px; background: {PANEL_BORDER}; }}
QSlider::handle:horizontal {{ background: {ACCENT}; width: 10px; margin: -4px 0; border-radius: 3px; }}
QToolTip {{ background: {PANEL}; color: {TEXT_BRIGHT}; border: 1px solid {PANEL_BORDER}; }}
"""


def configure_pyqtgraph() -> None:
    """Set pyqtgraph's global look to the night theme (call before creating plots)."""
    pg.setConfigOptions(background=BACKGROUND, foreground=TEXT_DIM, antialias=False)


def apply_night_theme(app: QtWidgets.QApplication) -> None:
    """Give ``app`` the dark palette and the night style sheet."""
    configure_pyqtgraph()
    palette = QtGui.QPalette()
    roles = QtGui.QPalette.ColorRole
    palette.setColor(roles.Window, QtGui.QColor(BACKGROUND))
    palette.setColor(roles.WindowText, QtGui.QColor(TEXT))
    palette.setColor(roles.Base, QtGui.QColor(PANEL))
    palette.setColor(roles.AlternateBase, QtGui.QColor(BACKGROUND))
    palette.setColor(roles.Text, QtGui.QColor(TEXT))
    palette.setColor(roles.Button, QtGui.QColor(PANEL))
    palette.setColor(roles.ButtonText, QtGui.QColor(TEXT))
    palette.setColor(roles.Highlight, QtGui.QColor("#1a2130"))
    palette.setColor(roles.HighlightedText, QtGui.QColor(TEXT_BRIGHT))
    app.setPalette(palette)
    app.setStyleSheet(STYLE_SHEET)


def stage_colour(code: int) -> str:
    """Return the colour of a stage code (-1..4)."""
    return STAGE_COLOURS.get(int(code), STAGE_COLOURS[-1])


def quality_colour(status: str) -> str:
    """Return the trace colour of a channel quality status."""
    return QUALITY_COLOURS.get(status, QUALITY_COLOURS["unknown"])


#: Night mode (after lights-off): black with dim dark-red text, nothing bright or blue.
NIGHT_BACKGROUND = "#000000"
NIGHT_TEXT = "#5a1710"
NIGHT_TEXT_BRIGHT = "#8a2518"
NIGHT_TEXT_DIM = "#3a0f0a"
NIGHT_STYLE_SHEET = f"""
QWidget {{ background: {NIGHT_BACKGROUND}; color: {NIGHT_TEXT}; }}
QLabel {{ background: transparent; }}
QLabel#nightClock {{ font-size: 44pt; color: {NIGHT_TEXT_BRIGHT}; }}
QLabel#nightStage {{ font-size: 64pt; font-weight: bold; color: {NIGHT_TEXT_BRIGHT}; }}
QLabel#nightPlain {{ font-size: 16pt; color: {NIGHT_TEXT}; }}
QLabel#nightAlarm {{ font-size: 24pt; color: {NIGHT_TEXT}; }}
QLabel#nightBanner {{ font-size: 14pt; color: {NIGHT_TEXT_BRIGHT}; }}
QLabel#nightHint {{ font-size: 10pt; color: {NIGHT_TEXT_DIM}; }}
QPushButton {{ background: {NIGHT_BACKGROUND}; border: 1px solid {NIGHT_TEXT_DIM}; border-radius: 3px;
    padding: 3px 8px; color: {NIGHT_TEXT}; }}
QStatusBar {{ background: {NIGHT_BACKGROUND}; color: {NIGHT_TEXT_DIM}; border: 0px; }}
"""

#: Signal check verdict -> colour (the check screen, before lights-off).
CHECK_COLOURS: dict[str, str] = {
    "good": "#6f8f7a", "fair": "#8f9a62", "weak": "#a8843a", "hum": "#a8843a",
    "high-impedance": "#a8843a", "too-large": "#a8504a", "off-head": "#8a5a9c",
    "flat": "#5d6470", "railed": "#a8504a", "lost": "#40454f",
}


def check_colour(status: str) -> str:
    """Return the colour of a signal-check status."""
    return CHECK_COLOURS.get(status, QUALITY_COLOURS["unknown"])
