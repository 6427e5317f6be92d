"""Quantize the champion generators to int8, gate them against fp32, register the verdict.

    python jobs/quantize_models.py [--ikea-root ../shared/datasets/ikea] [--out DIR] [--conf k=v]

Logic and the full description (--help): adstage/generative/quantize_job.py.
"""
import sys

from adstage.generative.quantize_job import main

if __name__ == "__main__":
    sys.exit(main())
