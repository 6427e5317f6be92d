"""Export generator checkpoints to ONNX + model cards (parity-checked) and register them.

    python jobs/export_models.py --edgeconnect CKPT --pix2pix CKPT --out models/generative --register
    python jobs/export_models.py --register-only --out models/generative    # shipped models -> models:/<name>@champion
Logic: adstage/generative/cli.py and adstage/generative/publish.py.
"""
import sys

from adstage.generative.cli import export_models_main

if __name__ == "__main__":
    sys.exit(export_models_main())
