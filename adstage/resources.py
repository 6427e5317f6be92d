"""GPU executors for the inference stages: one Spark resource profile, applied in one place.

With ``Settings.gpu_per_task > 0`` the stages' ``mapInArrow``/``mapInPandas`` carry a
``ResourceProfile`` (stage-level scheduling), so only those stages hold a GPU slot while the
rest of the job (reads, joins, Delta writes) schedules on CPU slots as before.  Inside a task,
:func:`task_gpu_id` is the GPU Spark assigned, which :mod:`adstage.onnx_runtime` gives the CUDA
provider as ``device_id``.  ``gpu_per_task = 0`` (the default) means no profile at all: local
runs and CPU clusters run the very plan they ran before.

Spark accepts two kinds of profile (Spark 3.4+; ``ResourceProfileManager.isSupported``):

* dynamic allocation off (the usual standalone/YARN/K8s setup): a *task* profile only, scheduled
  on the executors the application already has -- they get their GPUs from the cluster conf
  ``spark.executor.resource.gpu.amount`` and ``...discoveryScript``;
* dynamic allocation on: executor requests too (GPUs + discovery script per executor), and
  Spark starts executors of that shape for the inference stages.

``local[*]`` accepts neither, and has no resource scheduling to honour them: there the profile is
left off with a warning (onnxruntime still picks CUDA device 0 when ``onnx_device`` allows).
See docs/gpu.md.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from adstage.config import Settings

if TYPE_CHECKING:
    from pyspark.resource import ResourceProfile
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)

GPU = "gpu"
# Where the executor image ships docker/gpu-discovery.sh (docker/spark-executor.Dockerfile).
IMAGE_DISCOVERY_SCRIPT = "/opt/adstage/gpu-discovery.sh"


def discovery_script(settings: Settings) -> str:
    """The GPU discovery script's path on the executors: the setting, else this checkout's
    ``docker/gpu-discovery.sh``, else the executor image's copy."""
    if settings.gpu_discovery_script:
        return settings.gpu_discovery_script
    repo = Path(__file__).resolve().parents[1] / "docker" / "gpu-discovery.sh"
    return str(repo) if repo.is_file() else IMAGE_DISCOVERY_SCRIPT


def inference_profile(settings: Settings, dynamic_allocation: bool = False
                      ) -> "ResourceProfile | None":
    """The inference stages' resource profile; None when ``gpu_per_task`` is 0 (CPU).

    Without dynamic allocation it holds task requests only (a ``TaskResourceProfile``, the one
    kind Spark schedules on existing executors); with it, executor requests as well.
    """
    amount = float(settings.gpu_per_task)
    if amount <= 0:
        return None
    if amount > 0.5 and not amount.is_integer():  # Spark's own rule, said before the JVM does
        raise ValueError(f"gpu_per_task must be at most 0.5 (GPU sharing) or a whole number, "
                         f"got {amount}")
    from pyspark.resource import (ExecutorResourceRequests, ResourceProfileBuilder,
                                  TaskResourceRequests)

    builder = ResourceProfileBuilder()
    builder.require(TaskResourceRequests().cpus(1).resource(GPU, amount))
    script = ""
    if dynamic_allocation:
        script = discovery_script(settings)
        builder.require(ExecutorResourceRequests().resource(
            GPU, int(settings.gpu_per_executor), script))
    profile = builder.build
    log.info("inference resource profile: %s GPU per task%s", amount,
             f", {settings.gpu_per_executor} per executor (discovery {script})"
             if dynamic_allocation else " on the executors' own GPUs (no dynamic allocation)")
    return profile


def _spark_conf(df: "DataFrame") -> dict[str, str]:
    try:  # classic Spark; a Connect session has no SparkContext
        return dict(df.sparkSession.sparkContext.getConf().getAll())
    except Exception:  # pragma: no cover - Spark Connect
        return {}


def profile_for(df: "DataFrame", settings: Settings) -> "ResourceProfile | None":
    """:func:`inference_profile` for the session ``df`` belongs to (None in local mode)."""
    if settings.gpu_per_task <= 0:
        return None
    conf = _spark_conf(df)
    master = conf.get("spark.master", "")
    if master == "local" or master.startswith("local["):
        log.warning("gpu_per_task=%s ignored: %s has no resource scheduling (Spark refuses "
                    "task resource profiles in local mode); running without a profile",
                    settings.gpu_per_task, master)
        return None
    dynamic = conf.get("spark.dynamicAllocation.enabled", "false").strip().lower() == "true"
    return inference_profile(settings, dynamic_allocation=dynamic)


def map_in_arrow(df: "DataFrame", fn: Callable, schema: Any, settings: Settings) -> "DataFrame":
    """``df.mapInArrow(fn, schema)``, with the inference profile when there is one."""
    profile = profile_for(df, settings)
    if profile is None:
        return df.mapInArrow(fn, schema)
    return df.mapInArrow(fn, schema, profile=profile)


def map_in_pandas(df: "DataFrame", fn: Callable, schema: Any, settings: Settings) -> "DataFrame":
    """``df.mapInPandas(fn, schema)``, with the inference profile when there is one."""
    profile = profile_for(df, settings)
    if profile is None:
        return df.mapInPandas(fn, schema)
    return df.mapInPandas(fn, schema, profile=profile)


def task_gpu_id() -> int | None:
    """Inside a Spark task: the (first) GPU address Spark assigned to it; else None."""
    try:
        from pyspark import TaskContext
    except ImportError:  # pragma: no cover - pyspark is a dependency
        return None
    ctx = TaskContext.get()
    if ctx is None:
        return None
    gpu = (ctx.resources() or {}).get(GPU)
    if gpu is None or not gpu.addresses:
        return None
    try:
        return int(gpu.addresses[0])
    except ValueError:  # a discovery script reporting names, not CUDA indices
        log.warning("GPU address %r is not a CUDA device index; using the default device",
                    gpu.addresses[0])
        return None
