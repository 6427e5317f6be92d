"""Train the default slot segmenter on synthetic scenes, export ONNX, evaluate, register.

    python jobs/train_segmenter.py --out models/segmenter/segmenter.onnx [--register]
Every option: `python jobs/train_segmenter.py --help`. Logic: `adstage/vision/segmenter.py`.
"""
import sys

from adstage.vision.train_cli import segmenter_main

if __name__ == "__main__":
    sys.exit(segmenter_main())
