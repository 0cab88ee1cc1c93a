"""Recordings: file formats, the crash-safe recorder, import/export, replay data, reports.

Public entry points: :class:`Recording`, :func:`load_recording`, :class:`RecordingSource`
(``recordings.replay``), ``recordings.hypnogram.load_hypnogram``,
``recordings.recorder.SessionRecorder`` / ``recover``, ``recordings.stats.sleep_statistics``.
"""

from dreamband.recordings.recording import Recording, load_recording
from dreamband.recordings.replay import RecordingSource

__all__ = ["Recording", "RecordingSource", "load_recording"]
