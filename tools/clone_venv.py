"""This clone's own thin environment in `.venv`, layered on the shared cached one (`make env`).

The shared environment (~/.cache/adstage/venv-<lock hash>, ~7 GB) holds every third-party
package and is shared by every clone on the machine; nothing of a clone is installed into it.
Each clone gets `.venv`, a virtual environment without pip (about a second to create, a few
hundred kB) whose site-packages holds one `.pth` file:

* first this clone's root on sys.path, so `import adstage` is this clone's code whatever the
  shared environment holds (an editable install some other clone made earlier included: that
  one is a finder consulted after the path, so it never wins);
* then the shared environment's site-packages (`site.addsitedir`: its own .pth files run too).

`.venv/bin` gets this clone's `adstage` command and, for every Python console script of the
shared environment (pytest, airflow, mlflow...), a copy that runs on `.venv/bin/python`; other
executables (spark-submit and its helpers) are linked. So `.venv/bin/adstage`,
`.venv/bin/python -m ...` and `source .venv/bin/activate` all run this clone's code, with or
without PYTHONPATH, from any directory.

    python tools/clone_venv.py --shared ~/.cache/adstage/venv-<hash> --clone .

Idempotent: run on every `make env` (~0.1 s when `.venv` is already layered on the same shared
environment; a `.venv` that is the old symlink, or layered on another shared environment, is
replaced). Standard library only; run it with the shared environment's Python.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

PTH = "00-adstage-clone.pth"
SKIP = {"python", "python3", "python3.11", "pip", "pip3", "pip3.11", "activate", "activate.csh",
        "activate.fish", "Activate.ps1", "__pycache__"}


def site_packages(venv: Path) -> Path:
    return venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def pth_text(clone: Path, shared: Path) -> str:
    return (f"{clone}\n"
            f"import site; site.addsitedir({str(site_packages(shared))!r})\n")


def launcher(python: Path, module: str, func: str) -> str:
    return (f"#!{python}\n"
            f"# this clone's `{module}` ({Path(__file__).name}; make env)\n"
            f"import sys\nfrom {module} import {func}\n"
            f"if __name__ == '__main__':\n    sys.exit({func}())\n")


def create(clone: Path, shared: Path) -> Path:
    venv = clone / ".venv"
    if venv.is_symlink():           # the layout before: .venv -> the shared environment
        venv.unlink()
    cfg = venv / "pyvenv.cfg"
    pth = site_packages(venv) / PTH
    want = pth_text(clone, shared)
    if cfg.is_file() and pth.is_file() and pth.read_text() == want \
            and (venv / "bin" / "adstage").is_file():
        return venv
    if venv.exists():
        shutil.rmtree(venv)
    # The base interpreter, not the shared venv's: a venv made from a venv has the base's
    # site-packages as its "system" ones, never the other venv's (hence the .pth).
    base = Path(getattr(sys, "_base_executable", sys.executable))
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(venv)], check=True)
    site_packages(venv).mkdir(parents=True, exist_ok=True)
    python = venv / "bin" / "python"
    bin_dir = venv / "bin"
    shared_python = f"#!{shared / 'bin' / 'python'}"
    for script in sorted((shared / "bin").iterdir()):
        target = bin_dir / script.name
        if script.name in SKIP or script.name.endswith(".cmd") or target.exists():
            continue
        try:
            head = script.read_bytes()[:200].split(b"\n", 1)[0].decode()
        except (OSError, UnicodeDecodeError):
            head = ""
        if head == shared_python:   # a console script: the same, on this clone's interpreter
            text = script.read_text()
            target.write_text(f"#!{python}" + text[len(shared_python):])
            target.chmod(0o755)
        elif script.is_file() and os.access(script, os.X_OK):
            target.symlink_to(script)
    (bin_dir / "adstage").unlink(missing_ok=True)
    (bin_dir / "adstage").write_text(launcher(python, "adstage.cli", "main"))
    (bin_dir / "adstage").chmod(0o755)
    pth.write_text(want)            # last: its presence marks a complete layer
    return venv


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shared", required=True, type=Path, help="the shared environment")
    p.add_argument("--clone", default=".", type=Path, help="the clone's root (default: .)")
    args = p.parse_args(argv)
    shared, clone = args.shared.resolve(), args.clone.resolve()
    if not (site_packages(shared)).is_dir():
        p.error(f"{shared} is not a Python {sysconfig.get_python_version()} environment")
    create(clone, shared)
    return 0


if __name__ == "__main__":
    sys.exit(main())
