"""Cache files without pickle: the structure as JSON, the arrays beside it in one ``.npz``.

Reading a pickle runs whatever the file says, so a cache anyone else can write is code anyone
else can run. Here ``load`` rebuilds only plain values (str, int, float, bool, None, list, dict
with string keys, tuple, bytes), numpy arrays (read with ``allow_pickle=False``) and the
dataclasses the caller names.
"""
from __future__ import annotations

import base64
import dataclasses
import io
import json
from pathlib import Path
from typing import Any, Iterable

import numpy as np

_DOC = "__doc__"


def dump(obj: Any, path: Path) -> None:
    arrays: dict[str, np.ndarray] = {}

    def enc(o: Any) -> Any:
        if isinstance(o, np.ndarray):
            if o.dtype == object:
                raise TypeError("object arrays cannot be cached without pickle")
            key = f"a{len(arrays)}"
            arrays[key] = o
            return {"__array__": key}
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, bytes):
            return {"__bytes__": base64.b64encode(o).decode("ascii")}
        if isinstance(o, tuple):
            return {"__tuple__": [enc(v) for v in o]}
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return {"__dataclass__": type(o).__qualname__,
                    "fields": {f.name: enc(getattr(o, f.name)) for f in dataclasses.fields(o)}}
        if isinstance(o, dict):
            if not all(isinstance(k, str) for k in o):
                raise TypeError("cached dicts need string keys")
            return {k: enc(v) for k, v in o.items()}
        if isinstance(o, list):
            return [enc(v) for v in o]
        if o is None or isinstance(o, (str, int, float, bool)):
            return o
        raise TypeError(f"cannot cache a {type(o).__name__}")

    doc = json.dumps(enc(obj)).encode("utf-8")
    buf = io.BytesIO()
    np.savez(buf, **{_DOC: np.frombuffer(doc, np.uint8)}, **arrays)
    Path(path).write_bytes(buf.getvalue())


def load(path: Path, types: Iterable[type] = ()) -> Any:
    """What :func:`dump` wrote; dataclasses only of `types`, matched by qualified name."""
    known = {t.__qualname__: t for t in types}
    with np.load(io.BytesIO(Path(path).read_bytes()), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    doc = json.loads(arrays.pop(_DOC).tobytes().decode("utf-8"))

    def dec(o: Any) -> Any:
        if isinstance(o, list):
            return [dec(v) for v in o]
        if not isinstance(o, dict):
            return o
        if "__array__" in o:
            return arrays[o["__array__"]]
        if "__bytes__" in o:
            return base64.b64decode(o["__bytes__"])
        if "__tuple__" in o:
            return tuple(dec(v) for v in o["__tuple__"])
        if "__dataclass__" in o:
            cls = known.get(o["__dataclass__"])
            if cls is None:
                raise TypeError(f"{path}: dataclass {o['__dataclass__']!r} not expected here")
            return cls(**{k: dec(v) for k, v in o["fields"].items()})
        return {k: dec(v) for k, v in o.items()}

    return dec(doc)
