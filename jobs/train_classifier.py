"""Train the staged / unstaged classifier, export ONNX, evaluate, optionally register in MLflow.

    python jobs/train_classifier.py --out models/classifier/classifier.onnx [--register]
Every option: `python jobs/train_classifier.py --help`. Logic: `adstage/vision/classifier.py`.
"""
import sys

from adstage.vision.train_cli import classifier_main

if __name__ == "__main__":
    sys.exit(classifier_main())
