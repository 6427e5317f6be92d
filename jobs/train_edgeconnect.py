"""Train EdgeConnect (edge + inpainting generators, optional weighted boundary loss).

    python jobs/train_edgeconnect.py --data catalog --data-root /tmp/adstage-democat --steps 1500
    python jobs/train_edgeconnect.py --data ikea --boundary-weight 5 --mask-kind silhouette
Every option: `python jobs/train_edgeconnect.py --help`. Logic: adstage/generative/train_edgeconnect.py.
"""
import sys

from adstage.generative.cli import train_edgeconnect_main

if __name__ == "__main__":
    sys.exit(train_edgeconnect_main())
