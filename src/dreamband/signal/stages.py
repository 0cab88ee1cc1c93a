"""Sleep-stage codes shared by the whole package.

The codes follow the Sleep-EDF/YASA integer convention: ``W=0, N1=1, N2=2, N3=3, REM=4``.
``UNSTAGED=-1`` marks an epoch that could not be staged (artefact, off-head, signal lost)
or, in a hypnogram, an unknown/movement epoch.
"""

from __future__ import annotations

W: int = 0
N1: int = 1
N2: int = 2
N3: int = 3
REM: int = 4
UNSTAGED: int = -1

STAGE_NAMES: tuple[str, ...] = ("W", "N1", "N2", "N3", "REM")
N_STAGES: int = len(STAGE_NAMES)
EPOCH_S: float = 30.0
STAGING_SFREQ: float = 100.0

_ALIASES: dict[str, int] = {
    "W": W, "WAKE": W, "0": W,
    "N1": N1, "1": N1, "S1": N1,
    "N2": N2, "2": N2, "S2": N2,
    "N3": N3, "3": N3, "S3": N3, "N4": N3, "4": N3, "S4": N3,
    "REM": REM, "R": REM, "5": REM,
    "?": UNSTAGED, "UNS": UNSTAGED, "ART": UNSTAGED, "-1": UNSTAGED, "-2": UNSTAGED,
    "MT": UNSTAGED, "MOVEMENT": UNSTAGED, "UNSTAGED": UNSTAGED,
}


def stage_name(code: int) -> str:
    """Return the short name (``"W"`` ... ``"REM"``, or ``"?"``) of a stage code."""
    if 0 <= int(code) < N_STAGES:
        return STAGE_NAMES[int(code)]
    if int(code) == UNSTAGED:
        return "?"
    raise ValueError(f"Unknown stage code {code!r}; expected -1 or 0..4 (W, N1, N2, N3, REM).")


def stage_code(name: str | int) -> int:
    """Return the integer code of a stage name such as ``"N2"``, ``"REM"``, ``"R"`` or ``"S3"``.

    Accepts R&K names (S3 and S4 both map to N3) and YASA/Sleep-EDF spellings
    (``"Sleep stage 2"``).
    """
    if isinstance(name, (int,)) and not isinstance(name, bool):
        stage_name(name)  # validates
        return int(name)
    if not isinstance(name, str):
        raise TypeError(f"A stage must be a str or int, got {type(name).__name__}.")
    key = name.strip().upper().removeprefix("SLEEP STAGE").strip()
    if key in _ALIASES:
        return _ALIASES[key]
    raise ValueError(
        f"Unknown stage {name!r}; expected one of W, N1, N2, N3, REM (or R&K 1-4, R, ?, MT)."
    )
