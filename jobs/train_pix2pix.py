"""Train pix2pix for vanilla staging (product on white -> staged scene).

    python jobs/train_pix2pix.py --data catalog --data-root /tmp/adstage-democat --steps 1500
Every option: `python jobs/train_pix2pix.py --help`. Logic: adstage/generative/train_pix2pix.py.
"""
import sys

from adstage.generative.cli import train_pix2pix_main

if __name__ == "__main__":
    sys.exit(train_pix2pix_main())
