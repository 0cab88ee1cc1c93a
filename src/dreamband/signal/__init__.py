"""Pure computation: filters, epochs, features, stager, detectors, quality.

No I/O, no threads, no Qt, and no imports from the rest of dreamband.
"""
