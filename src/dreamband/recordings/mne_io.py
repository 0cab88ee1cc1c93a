"""Reader for every format MNE reads (EDF/EDF+/BDF/GDF/FIF/...) into a :class:`Recording`.

EDF/EDF+/BDF/BDF+ files are decoded by :func:`dreamband.recordings.edf_recording.open_edf`
(the one EDF/BDF decoder, which a replay also reads block by block: the same channels, names,
units and annotations as MNE's reader, and no float64 copy of the signals dreamband drops);
what only MNE reads (EDF+D, a kept signal below the file's top rate, ...) and every other
format goes through MNE.
"""

from __future__ import annotations

from pathlib import Path

from dreamband.recordings.base import Recording

#: File suffixes MNE reads that we hand to MNE directly.
MNE_SUFFIXES = (".edf", ".bdf", ".gdf", ".fif", ".fif.gz", ".set", ".vhdr", ".cnt", ".mff", ".rec")


def load_mne(path: str | Path) -> Recording:
    """Read EDF/EDF+/BDF/FIF (any file MNE reads) into a :class:`Recording`.

    EEG/EOG/EMG channels (and accelerometer channels, by name) are kept; ECG, respiration,
    SaO2, hypnogram and other channels are dropped. Volts become microvolts.

    Raises
    ------
    ValueError
        When MNE cannot read the file or it has no EEG/EOG/EMG channel.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".edf", ".bdf"):
        from dreamband.recordings.edf_channels import FastReadUnsupported
        from dreamband.recordings.edf_recording import open_edf

        try:
            return open_edf(path).load()
        except FastReadUnsupported:
            pass  # MNE reads it
        except ValueError:
            pass  # MNE says what is wrong with the file, in its words
    import mne

    try:
        if suffix in (".edf", ".bdf", ".gdf"):
            reader = {".edf": mne.io.read_raw_edf, ".bdf": mne.io.read_raw_bdf, ".gdf": mne.io.read_raw_gdf}[suffix]
            kwargs = {"infer_types": True} if suffix != ".gdf" else {}
            raw = reader(path, preload=False, verbose="error", **kwargs)
        else:
            raw = mne.io.read_raw(path, preload=False, verbose="error")
    except Exception as err:  # MNE raises many types for a bad file
        raise ValueError(f"{path}: MNE could not read this file ({type(err).__name__}: {err}). "
                         "Is it a complete EDF/BDF/FIF file?") from err

    return Recording.from_mne(raw, path)
