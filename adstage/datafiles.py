"""Where the shipped data folders are: ``schemas/`` (table contracts) and ``models/`` (ONNX files).

In a checkout they sit beside the package (``<repo>/schemas``, ``<repo>/models``); a built wheel
installs them as data files under ``<environment>/share/adstage/`` (setup.cfg
``[options.data_files]``), since only the ``adstage`` package itself is installed. Lookup order:
the ``ADSTAGE_<NAME>_DIR`` environment variable, the checkout, the environment's data folder
(``sys.prefix``, then the install scheme's data path, which differs for ``pip install --user``).
Each candidate must hold its marker file, so a stray top-level ``models`` folder in
site-packages is never taken for ours. Standard library only: the scheduler imports this too.
"""
from __future__ import annotations

import os
import site
import sys
import sysconfig
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
# A file every genuine copy of the folder holds.
MARKERS = {"schemas": "feed.json", "models": "classifier/card.json"}


def candidates(name: str) -> list[Path]:
    """Every place `name` (``schemas`` | ``models``) is looked for, in order."""
    out = []
    env = os.environ.get(f"ADSTAGE_{name.upper()}_DIR")
    if env:
        out.append(Path(env))
    out.append(CHECKOUT / name)
    data_roots = [sys.prefix, sysconfig.get_paths().get("data", "")]
    try:
        data_roots.append(site.getuserbase())
    except Exception:  # pragma: no cover - site without a user base
        pass
    for root in data_roots:
        if root:
            p = Path(root) / "share" / "adstage" / name
            if p not in out:
                out.append(p)
    return out


def find(name: str) -> Path | None:
    """The first candidate holding the folder's marker file, else None."""
    for c in candidates(name):
        if (c / MARKERS[name]).is_file():
            return c
    return None


def folder(name: str) -> Path:
    """`find(name)`, else a FileNotFoundError naming every place looked at."""
    found = find(name)
    if found is None:
        looked = ", ".join(str(c) for c in candidates(name))
        raise FileNotFoundError(f"cannot find the {name}/ folder (looked in {looked}); "
                                f"set ADSTAGE_{name.upper()}_DIR")
    return found


def models_dir() -> Path:
    """The shipped models' folder; the checkout's path when none is found (an error then names
    the missing file where it is read)."""
    return find("models") or CHECKOUT / "models"


def schemas_dir() -> Path:
    return folder("schemas")
