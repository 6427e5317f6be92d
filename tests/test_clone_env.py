"""One cached environment, several clones (issue 18, item 11): `make env` in one clone must not
change what another clone runs, whatever the shared environment already holds.

Two git clones of this repository share one CACHE and one shared environment. That shared
environment is a thin stand-in for the real one (a venv whose .pth reaches the real
environment's packages) so the test can put in it what an older `make env` left on machines:
an editable install of clone A. Clone B's `.venv` starts as the old symlink to the shared
environment. After `make env` in A, then B, then A again, each clone's `adstage` command and
Python, run from another directory without PYTHONPATH, are that clone's code.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "VIRTUAL_ENV", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")}


def _run(cmd, **kw) -> str:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300,
                          env=_env(), **kw)
    assert proc.returncode == 0, f"{cmd}: {proc.stdout[-2000:]}{proc.stderr[-3000:]}"
    return proc.stdout


def _real_env() -> Path:
    """The environment holding the third-party packages (the one running this test, or the
    shared one under a clone's layered .venv)."""
    import pytest as _p

    return Path(_p.__file__).resolve().parents[4]


def _clone(tmp: Path, name: str) -> Path:
    clone = tmp / name
    _run(["git", "clone", "-q", "--shared", ROOT, clone])
    # The working tree's version of what `make env` and `--version` run (the clone holds HEAD).
    for rel in ("Makefile", "tools/clone_venv.py", "adstage"):
        src, dst = ROOT / rel, clone / rel
        if src.is_dir():
            shutil.rmtree(dst)
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst)
    init = clone / "adstage" / "__init__.py"   # a PEP 440 local version names the clone
    text = init.read_text()
    version = text.split('__version__ = "', 1)[1].split('"', 1)[0]
    init.write_text(text.replace(f'"{version}"', f'"{version}+{_tag(name)}"'))
    return clone


def _tag(name: str) -> str:
    return name.replace("-", "")


def _which_code(clone: Path, elsewhere: Path) -> tuple[str, str]:
    cli = _run([clone / ".venv" / "bin" / "adstage", "--version"], cwd=elsewhere).splitlines()[0]
    mod = _run([clone / ".venv" / "bin" / "python", "-c", "import adstage; print(adstage.__file__)"],
               cwd=elsewhere).strip()
    return cli, mod


@pytest.mark.skipif(not shutil.which("git") or not shutil.which("make"), reason="git and make")
def test_each_clone_runs_its_own_code(tmp_path):
    real = _real_env()
    if not (real / "pyvenv.cfg").is_file():
        pytest.skip(f"tests not run from a virtual environment ({real})")
    # The shared environment: its packages are the real one's; it holds an editable install of
    # clone A, as `make env` used to leave (what the shared `adstage` then ran, for every clone).
    shared = tmp_path / "cache" / "venv-shared"
    _run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", shared])
    (shared / SITE / "zz-real.pth").write_text(  # after the shared env's own .pth files
        f"import site; site.addsitedir({str(real / SITE)!r})\n")
    (shared / ".complete").touch()
    # One console script of the real environment, as the shared one has them all.
    script = (real / "bin" / "pytest").read_text().split("\n", 1)[1]
    (shared / "bin" / "pytest").write_text(f"#!{shared / 'bin' / 'python'}\n{script}")
    (shared / "bin" / "pytest").chmod(0o755)
    a, b = _clone(tmp_path, "clone-a"), _clone(tmp_path, "clone-b")
    _run([shared / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps",
          "--no-build-isolation", "--no-index", "-e", a])
    assert "clone-a" in _run([shared / "bin" / "python", "-c",
                              "import adstage; print(adstage.__file__)"], cwd=tmp_path)
    (b / ".venv").symlink_to(shared)            # clone B as the old `make env` left it

    timings = {}
    for clone in (a, b, a):                     # A, then B, then A again: nobody re-points
        started = time.monotonic()
        _run(["make", "-s", "-C", clone, "env", f"VENV={shared}", f"CACHE={tmp_path / 'cache'}"])
        timings.setdefault(clone.name, []).append(time.monotonic() - started)
    assert all(t < 30 for ts in timings.values() for t in ts), timings

    for clone in (a, b):
        cli, mod = _which_code(clone, tmp_path)
        assert f"+{_tag(clone.name)} from {clone}/adstage" in cli and cli.startswith("adstage "), cli
        assert mod == str(clone / "adstage" / "__init__.py"), mod
    assert all((c / ".venv").is_dir() and not (c / ".venv").is_symlink() for c in (a, b))
    # The shared environment gained nothing of either clone.
    assert not any("clone-b" in p.read_text(errors="ignore")
                   for p in (shared / SITE).glob("*") if p.is_file())
    # The clone's console scripts run on its own Python (pytest here; airflow and the rest alike).
    assert _run([b / ".venv" / "bin" / "pytest", "--version"], cwd=tmp_path) is not None
    head = (b / ".venv" / "bin" / "pytest").read_text().splitlines()[0]
    assert head == f"#!{b / '.venv' / 'bin' / 'python'}", head
