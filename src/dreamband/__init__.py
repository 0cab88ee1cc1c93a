"""dreamband: open-source neurofeedback for a sleep headband.

Real-time sleep staging (W, N1, N2, N3, REM) from BrainFlow boards, a dream-session
engine that follows the night, and gentle wake triggers.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dreamband")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
