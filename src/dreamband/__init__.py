"""dreamband: open-source neurofeedback for a sleep headband.

Real-time sleep staging (W, N1, N2, N3, REM) from BrainFlow boards, a dream-session
engine that follows the night, and gentle wake triggers.

``dreamband.stage_raw(raw)`` stages an ``mne.io.Raw``
(:func:`dreamband.session.mne_api.stage_raw`; imported on first use, so ``import dreamband``
stays light).
"""

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("dreamband")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["StagedRaw", "__version__", "stage_raw"]


def __getattr__(name: str) -> Any:
    if name in ("stage_raw", "StagedRaw"):
        from dreamband.session import mne_api

        return getattr(mne_api, name)
    raise AttributeError(f"module 'dreamband' has no attribute {name!r}")
