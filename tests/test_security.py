"""Security: nothing unpickles untrusted bytes, image reads stay inside their roots and hosts,
and secrets in the settings reach neither the logs nor MLflow's params.

The unpickling check is a scan of the source (AST, not grep: comments and strings do not count),
with a self-test on a snippet of each forbidden call so that the scan itself can fail.
"""
from __future__ import annotations

import ast
import io
import logging
from pathlib import Path

import pytest

from adstage import fetch, logs, redact, tracking
from adstage.reasons import Reason, Rejected
from conftest import make_settings

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("adstage", "jobs", "dags")

# module-level loaders that unpickle what they read
UNPICKLERS = {"pickle.load", "pickle.loads", "pickle.Unpickler", "cPickle.load", "cPickle.loads",
              "dill.load", "dill.loads", "cloudpickle.load", "cloudpickle.loads", "joblib.load",
              "shelve.open", "marshal.load", "marshal.loads", "pd.read_pickle",
              "pandas.read_pickle", "yaml.unsafe_load", "mlflow.pyfunc.load_model",
              "mlflow.sklearn.load_model", "mlflow.pytorch.load_model"}
# methods that unpickle whatever object they are called on
UNPICKLING_METHODS = {"read_pickle", "pickleFile"}


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return ""


def _kw(call: ast.Call, name: str):
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def unpickling_calls(source: str) -> list[tuple[int, str]]:
    """(line, call) for every call in `source` that may unpickle the bytes it reads."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        method = node.func.attr if isinstance(node.func, ast.Attribute) else ""
        if name in UNPICKLERS or method in UNPICKLING_METHODS:
            found.append((node.lineno, name or method))
        elif name == "torch.load":
            weights_only = _kw(node, "weights_only")
            if not (isinstance(weights_only, ast.Constant) and weights_only.value is True):
                found.append((node.lineno, "torch.load without weights_only=True"))
        elif name in ("np.load", "numpy.load"):
            allow = _kw(node, "allow_pickle")
            if allow is not None and not (isinstance(allow, ast.Constant) and allow.value is False):
                found.append((node.lineno, f"{name} with allow_pickle"))
        elif name == "yaml.load":
            loader = _name(_kw(node, "Loader") or ast.Name(""))
            if not loader.endswith("SafeLoader"):
                found.append((node.lineno, "yaml.load without SafeLoader"))
    return found


def test_the_scan_finds_each_kind_of_unpickling():
    bad = """
import pickle, torch, numpy as np, joblib, yaml, pandas as pd
pickle.loads(b)
torch.load(p)
torch.load(p, weights_only=False)
np.load(p, allow_pickle=True)
joblib.load(p)
yaml.load(s, Loader=yaml.Loader)
pd.read_pickle(p)
spark.sparkContext.pickleFile(p)
# pickle.loads(in_a_comment) and "pickle.loads(in a string)" do not count
"""
    ok = """
torch.load(p, map_location="cpu", weights_only=True)
np.load(p)
np.load(p, allow_pickle=False)
yaml.load(s, Loader=yaml.SafeLoader)
"""
    assert [line for line, _ in unpickling_calls(bad)] == [3, 4, 5, 6, 7, 8, 9, 10]
    assert unpickling_calls(ok) == []


def test_no_code_path_unpickles_untrusted_bytes():
    found = []
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            found += [f"{rel}:{line}: {call}" for line, call in unpickling_calls(path.read_text())]
    assert found == []


def test_untrusted_rows_reach_python_workers_as_arrow_not_pickles():
    """Feed rows and images cross from the JVM to Python as Arrow batches (mapInArrow /
    mapInPandas). The one RDD step (the feed's line numbers) carries rows that Spark's own
    serializer pickled, never bytes a feed could shape into pickle opcodes."""
    rdd_uses = []
    for path in sorted((ROOT / "adstage").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("rdd", "parallelize"):
                rdd_uses.append(f"{path.relative_to(ROOT).as_posix()}:{node.lineno}")
    assert [u.split(":")[0] for u in rdd_uses] == ["adstage/ingest.py"]


def test_caches_round_trip_without_pickle_and_refuse_unexpected_types(tmp_path):
    """adstage.safecache: what the IKEA comparison caches (slot dicts with PNG bytes and
    arrays, feature sets, tuples) comes back equal; a class it was not told of does not."""
    import numpy as np

    from adstage import safecache
    from adstage.evaluation.evaluate import FeatureSet

    fs = FeatureSet(["r1"], np.ones((1, 4), np.float32), np.zeros((3, 4)), ["r1"] * 3)
    obj = ([{"mask_png": b"\x89PNG", "vector": np.arange(5.0), "area": np.float32(0.5),
             "box": [1, 2, 3, 4], "none": None}], (fs, {"kind": "x"}))
    safecache.dump(obj, tmp_path / "c.npz")
    (slots, (back, meta)) = safecache.load(tmp_path / "c.npz", (FeatureSet,))
    assert slots[0]["mask_png"] == b"\x89PNG" and slots[0]["box"] == [1, 2, 3, 4]
    assert np.array_equal(slots[0]["vector"], np.arange(5.0)) and slots[0]["area"] == 0.5
    assert back.ids == ["r1"] and np.array_equal(back.whole, fs.whole) and meta == {"kind": "x"}
    with pytest.raises(TypeError, match="FeatureSet"):
        safecache.load(tmp_path / "c.npz")
    with pytest.raises(TypeError):
        safecache.dump({"f": open}, tmp_path / "d.npz")


# ---- fetch confinement ---------------------------------------------------------------------

def test_image_reads_are_confined_to_allowed_roots_and_hosts(tmp_path):
    root = tmp_path / "catalog"
    root.mkdir()
    (root / "ok.png").write_bytes(b"x" * 10)
    (tmp_path / "private.key").write_bytes(b"secret")
    (root / "sneaky.png").symlink_to(tmp_path / "private.key")
    sibling = tmp_path / "catalog-evil"  # shares the root's prefix, not its folder
    sibling.mkdir()
    (sibling / "x.png").write_bytes(b"x")
    kw = dict(allowed_roots=[str(root)], http_allowed_hosts=["cdn.example.com"],
              timeout_s=1.0, max_bytes=1000)
    assert fetch.read_image_bytes(str(root / "ok.png"), **kw) == b"x" * 10
    refused = {
        str(root / ".." / "private.key"): Reason.OUTSIDE_ALLOWED_ROOT,
        f"file://{root}/../private.key": Reason.OUTSIDE_ALLOWED_ROOT,
        f"file://{root}/%2e%2e/private.key": Reason.OUTSIDE_ALLOWED_ROOT,
        str(root / "sneaky.png"): Reason.OUTSIDE_ALLOWED_ROOT,
        str(sibling / "x.png"): Reason.OUTSIDE_ALLOWED_ROOT,
        "file://otherhost/etc/passwd": Reason.OUTSIDE_ALLOWED_ROOT,
        "../private.key": Reason.OUTSIDE_ALLOWED_ROOT,
        "/etc/passwd": Reason.OUTSIDE_ALLOWED_ROOT,
        "http://169.254.169.254/latest/meta-data/": Reason.HOST_NOT_ALLOWED,
        "http://cdn.example.com.evil.test/x.png": Reason.HOST_NOT_ALLOWED,
        "http://cdn.example.com@evil.test/x.png": Reason.CREDENTIALS_IN_URL,
        "http://user:pw@cdn.example.com/x.png": Reason.CREDENTIALS_IN_URL,
        "gopher://cdn.example.com/x": Reason.UNSUPPORTED_SCHEME,
        "s3://bucket/x.png": Reason.UNSUPPORTED_SCHEME,
    }
    for uri, reason in refused.items():
        with pytest.raises(Rejected) as err:
            fetch.read_image_bytes(uri, **kw)
        assert err.value.reason == reason, uri
    with pytest.raises(Rejected) as err:  # no roots configured: no local reads at all
        fetch.read_image_bytes(str(root / "ok.png"), **dict(kw, allowed_roots=[]))
    assert err.value.reason == Reason.OUTSIDE_ALLOWED_ROOT


# ---- secrets -------------------------------------------------------------------------------

SECRETS = ("hunter2-pw", "AKIAsecretKEY", "s3cr3t-token-value", "jdbc-pw-42", "sig0123abcd",
           "sse-key-77")


def secret_settings(tmp_path: Path):
    return make_settings(
        tmp_path,
        spark_conf=("spark.hadoop.fs.s3a.access.key=AKIAsecretKEY,"
                    "spark.hadoop.fs.s3a.secret.key=s3cr3t-token-value,"
                    "spark.sql.shuffle.partitions=2,"
                    "spark.hadoop.javax.jdo.option.ConnectionPassword=jdbc-pw-42,"
                    "spark.hadoop.fs.s3a.encryption.key=sse-key-77"),
        feed_uri="https://feeds:hunter2-pw@feeds.example.com/{ds}.jsonl?X-Amz-Signature=sig0123abcd",
        warehouse=str(tmp_path / "warehouse"))


def test_settings_params_mask_every_secret_and_keep_the_rest(tmp_path):
    params = secret_settings(tmp_path).as_params()
    flat = " ".join(params.values())
    assert not [s for s in SECRETS if s in flat]
    assert "spark.sql.shuffle.partitions=2" in params["spark_conf"]
    assert "spark.hadoop.fs.s3a.secret.key=***" in params["spark_conf"]
    assert params["feed_uri"] == ("https://feeds:***@feeds.example.com/{ds}.jsonl"
                                  "?X-Amz-Signature=***")
    assert params["home"] == str(tmp_path)  # nothing else is touched
    assert redact.text("https://u:p@mlflow.example.com/") == "https://u:***@mlflow.example.com/"
    assert "spark.hadoop.fs.s3a.encryption.key=***" in params["spark_conf"]


@pytest.mark.parametrize("line, shown", [
    # A URL as the value of another key: its token was left in clear.
    ("k=https://h/x?token=abc", "k=https://h/x?token=***"),
    ("fetching https://cdn.example.com/a.png?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
     "AKIAEXAMPLE%2F20261124%2Fus-east-1&X-Amz-Security-Token=FQoG&X-Amz-Signature=0a1b&v=1",
     "fetching https://cdn.example.com/a.png?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
     "***&X-Amz-Security-Token=***&X-Amz-Signature=***&v=1"),
    ("https://acct.blob.core.windows.net/c/a.png?sv=2024&sig=abc%3D&se=2026",
     "https://acct.blob.core.windows.net/c/a.png?sv=2024&sig=***&se=2026"),
    ("u=https://h/a?key=abc&signature=def&Signature=x&apikey=y&keyboard=fine",
     "u=https://h/a?key=***&signature=***&Signature=***&apikey=***&keyboard=fine"),
    ("password=ab?cd", "password=***"),
    ('{"image_uri": "https://u:pw@h/x.png", "api_key": "abc"}',
     '{"image_uri": "https://u:***@h/x.png", "api_key": "***"}'),
    ("Authorization: Bearer abcdefghijkl", "Authorization: Bearer ***"),
])
def test_signed_url_parameters_and_tokens_are_masked_in_log_lines(line, shown):
    assert redact.text(line) == shown


@pytest.mark.parametrize("key", ["spark.hadoop.fs.s3a.encryption.key",
                                 "spark.hadoop.fs.s3a.server-side-encryption.key",
                                 "fs.azure.account.key.acct.blob.core.windows.net",
                                 "spark.hadoop.fs.gs.auth.service.account.private.key",
                                 "clientCredential", "accountKey", "api_token", "db.password"])
def test_key_secret_token_password_credential_names_are_secret(key):
    assert redact.is_secret_key(key)
    assert redact.mapping({key: "v4lue"}) == {key: "***"}


@pytest.mark.parametrize("key", ["spark.sql.shuffle.partitions", "monkey", "keyboard_layout",
                                 "spark.kerberos.keytab", "categories"])
def test_other_names_are_not(key):
    assert not redact.is_secret_key(key)


@pytest.mark.slow
def test_a_real_job_run_logs_no_secret_to_mlflow_or_the_log(tmp_path):
    from mlflow import MlflowClient

    settings = secret_settings(tmp_path)
    stream = io.StringIO()
    logs.setup("INFO")
    handler = logging.getLogger().handlers[0]
    handler.setStream(stream)  # the handler logs.setup installed, with its filter
    try:
        with tracking.job_run(settings, "security-check", "2026-11-24",
                              params={"feed": settings.feed_uri, "api_key": "hunter2-pw"}) as run:
            logging.getLogger("adstage.test").info("reading %s with %s", settings.feed_uri,
                                                    "token=s3cr3t-token-value")
    finally:
        logging.getLogger().removeHandler(handler)
    stored = MlflowClient(settings.tracking_uri).get_run(run.info.run_id).data.params
    assert stored["conf.spark_conf"].count("***") == 4 and stored["api_key"] == "***"
    leaked = [s for s in SECRETS
              if s in " ".join(stored.values()) or s in stream.getvalue()]
    assert leaked == []
    assert "reading https://feeds:***@feeds.example.com/" in stream.getvalue()
    assert "token=***" in stream.getvalue()


def test_spark_redacts_the_same_keys_in_its_own_ui_and_logs():
    """Spark's `spark.redaction.regex` default, which our SECRET_KEY must cover."""
    spark_default = ("secret", "password", "token", "access.key", "accesskey")
    assert all(redact.is_secret_key(f"spark.x.{k}") for k in spark_default)
    assert not redact.is_secret_key("spark.sql.shuffle.partitions")
