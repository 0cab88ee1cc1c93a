"""Write a :class:`Recording` as EDF+ through ``mne.export.export_raw`` (the edfio backend).

Signals are written in physical units (EEG/EOG/EMG in uV, accelerometer as dimensionless
``misc`` channels named ``accel_*`` in g), each channel with its own physical range so a
railed channel does not ruin the 16-bit resolution of the others. Lost samples (NaN) are
written as 0 and marked with ``BAD_signal_lost`` annotations. The annotations of the
recording (stages, triggers, markers) go into the EDF+ annotation channel.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dreamband.recordings.base import Recording
from dreamband.recordings.edf_channels import mne_meas_date

_MNE_TYPES = {"eeg": "eeg", "eog": "eog", "emg": "emg", "accel": "misc", "misc": "misc"}


def _nan_spans(data: np.ndarray) -> list[tuple[int, int]]:
    bad = np.any(~np.isfinite(data), axis=0)
    if not bad.any():
        return []
    edges = np.diff(np.concatenate([[0], bad.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _edf_label(name: str, used: set[str]) -> str:
    label = name.encode("ascii", errors="replace").decode()[:16]
    base, k = label, 1
    while label in used:
        suffix = f"_{k}"
        label = base[: 16 - len(suffix)] + suffix
        k += 1
    used.add(label)
    return label


def write_edf(recording: Recording, path: str | Path, annotations: list[tuple[float, float, str]] | None = None,
              mode: int = 0o600) -> Path:
    """Write ``recording`` (plus ``annotations``) to an EDF+ file.

    Parameters
    ----------
    recording : Recording
        Signals in µV (accelerometer in g).
    path : str or Path
        Output ``.edf`` file (written to a temporary name, then renamed).
    annotations : list of (onset_s, duration_s, description), optional
        Added to ``recording.annotations``.
    mode : int
        File permissions (default 0600: health data).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ValueError
        When the recording is empty.
    """
    import mne

    path = Path(path)
    if recording.n_samples == 0:
        raise ValueError("Cannot write an EDF of an empty recording (0 samples).")
    used: set[str] = set()
    labels = [_edf_label(n, used) for n in recording.channel_names]
    types = [_MNE_TYPES[t] for t in recording.channel_types]
    data = recording.data.copy()
    spans = _nan_spans(data)
    data[~np.isfinite(data)] = 0.0
    scale = np.array([1e-6 if t in ("eeg", "eog", "emg") else 1.0 for t in types])
    info = mne.create_info(labels, recording.sfreq, types)
    raw = mne.io.RawArray(data * scale[:, None], info, verbose="error")
    raw.set_meas_date(mne_meas_date(recording.start_time))  # the header gets the local clock time
    duration = recording.duration_s
    ann = list(recording.annotations) + list(annotations or [])
    ann += [(a / recording.sfreq, (b - a) / recording.sfreq, "BAD_signal_lost") for a, b in spans]
    onsets, durs, descs = [], [], []
    for onset, dur, desc in ann:
        if not np.isfinite(onset) or onset > duration:
            continue
        onset = max(0.0, float(onset))
        dur = float(min(max(dur, 0.0), duration - onset)) if np.isfinite(dur) else 0.0
        onsets.append(onset)
        durs.append(dur)
        descs.append(str(desc).replace("\n", " ")[:200])
    if onsets:
        raw.set_annotations(mne.Annotations(onsets, durs, descs, orig_time=raw.info["meas_date"]))
    tmp = path.with_name(path.name + ".part")
    mne.export.export_raw(tmp, raw, fmt="edf", physical_range="channelwise", overwrite=True, verbose="error")
    os.chmod(tmp, mode)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path
