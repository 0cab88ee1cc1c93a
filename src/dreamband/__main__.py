"""``python -m dreamband``: the same as the ``dreamband`` command."""

from dreamband.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
