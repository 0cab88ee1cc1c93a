"""Recordings: file formats, the crash-safe recorder, import/export, replay data, reports.

Public entry points: :class:`Recording` (``recordings.base``), :func:`read_recording` (the one
dispatcher over the per-format readers; ``load_recording`` is its older name), :class:`RecordingSource`
(``recordings.replay``), ``recordings.hypnogram.load_hypnogram``,
``recordings.recorder.SessionRecorder`` / ``recover``, ``recordings.stats.sleep_statistics``.
"""

from dreamband.recordings.base import Recording
from dreamband.recordings.recording import load_recording, read_recording
from dreamband.recordings.replay import RecordingSource

__all__ = ["Recording", "RecordingSource", "load_recording", "read_recording"]
