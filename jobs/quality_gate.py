"""Fail the night loudly when a date's staged images are not fit to publish (no Spark).

    python jobs/quality_gate.py --ds 2026-11-24
Checks accounting, product preservation, reject shares and FD / seam regressions against the
previous dates (thresholds: `gate_*` settings). Exit status 1 with every failed check listed.
Every option: `python jobs/quality_gate.py --help`. Logic: `adstage/quality_gate.py`.
"""
import sys

from adstage.quality_gate import main

if __name__ == "__main__":
    sys.exit(main())
