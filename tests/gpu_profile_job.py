"""Driver for tests/test_gpu_profile.py, submitted with spark-submit to the standalone cluster:
the same probe stage through ``adstage.resources.map_in_arrow`` twice, with ``gpu_per_task=1``
(a task resource profile) and with the default 0 (no profile), then what each task saw as JSON.

    spark-submit --master spark://... tests/gpu_profile_job.py OUT.json
"""
from __future__ import annotations

import json
import sys
from typing import Callable


def tiny_model() -> bytes:
    """An onnx model small enough to build here: y = x + x over float[1, 2]."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "x"], ["y"])], "double",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return model.SerializeToString()


PROBE_DDL = ("id long, resources string, gpu_id int, providers string, y double, "
             "t0 double, t1 double")


def make_probe(model: bytes, device: str) -> Callable:
    """A mapInArrow function reporting, per row, the task's Spark resources, the GPU id
    ``adstage.resources.task_gpu_id`` read from them, the providers of the onnxruntime
    session ``adstage.onnx_runtime.session_from_bytes`` made in that task, and when the task
    ran (t0..t1, a short sleep included, so that tasks sharing one GPU cannot overlap).

    Nested (and importing inside) so that cloudpickle ships it by value to any worker."""

    def run(batches):
        import time

        import numpy as np
        import pyarrow as pa
        from pyspark import TaskContext

        from adstage.onnx_runtime import session_from_bytes
        from adstage.resources import task_gpu_id

        t0 = time.time()
        res = json.dumps({k: list(v.addresses)
                          for k, v in sorted(TaskContext.get().resources().items())})
        sess = session_from_bytes(model, device)
        y = float(sess.run(None, {"x": np.ones((1, 2), np.float32)})[0].sum())
        provs = ",".join(sess.get_providers())
        gpu = task_gpu_id()
        ids = [i for b in batches for i in b.column("id").to_pylist()]
        time.sleep(0.3)
        t1 = time.time()
        yield pa.RecordBatch.from_pylist(
            [{"id": i, "resources": res, "gpu_id": gpu, "providers": provs, "y": y,
              "t0": t0, "t1": t1} for i in ids],
            schema=pa.schema([("id", pa.int64()), ("resources", pa.string()),
                              ("gpu_id", pa.int32()), ("providers", pa.string()),
                              ("y", pa.float64()), ("t0", pa.float64()), ("t1", pa.float64())]))

    return run


def rows(df) -> list[dict]:
    return [r.asDict() for r in df.collect()]


def main(out: str) -> int:
    from pyspark.sql import SparkSession

    from adstage.config import Settings
    from adstage.resources import map_in_arrow, profile_for

    spark = SparkSession.builder.appName("adstage-gpu-profile").getOrCreate()
    gpu = Settings.load({"gpu_per_task": "1"}, environ={})
    cpu = Settings.load({}, environ={})
    df = spark.range(0, 8, numPartitions=4)
    probe = make_probe(tiny_model(), "auto")
    profile = profile_for(df, gpu)
    result = {
        "master": spark.sparkContext.master,
        "profile": {"task": {k: v.amount for k, v in profile.taskResources.items()},
                    "executor": {k: v.amount for k, v in profile.executorResources.items()}},
        "profiled": rows(map_in_arrow(df, probe, PROBE_DDL, gpu)),
        "plain": rows(map_in_arrow(df, probe, PROBE_DDL, cpu)),
    }
    spark.stop()
    with open(out, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
