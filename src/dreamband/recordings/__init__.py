"""Recordings: file formats, the crash-safe recorder, import/export, replay data, reports."""
