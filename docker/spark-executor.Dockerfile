# Spark image for the cluster (master, workers, executors) and the jobs' driver: the `nightly`
# runtime role (setup.cfg extras; docs/architecture.md "Runtime roles"). The nightly path runs
# onnxruntime on numpy, so this image has no torch: the `gpu` extra (onnxruntime-gpu, the same
# version as the lock's onnxruntime) with CUDA 13 + cuDNN 9 from the same NVIDIA wheels torch's
# lock resolved (versions from requirements.lock); it falls back to the CPU provider on a
# machine without a GPU.

# The wheel, built once: the package with schemas/ and models/ as its data files
# (<prefix>/share/adstage/, found by adstage.datafiles). tests/test_roles.py installs the same
# wheel into a nightly-only environment and runs jobs with the shipped models.
FROM python:3.11.7-slim-bookworm AS wheel
WORKDIR /src
COPY setup.cfg pyproject.toml README.md ./
COPY adstage/ adstage/
COPY schemas/ schemas/
COPY models/ models/
RUN pip wheel --no-cache-dir --no-deps -w /dist .

FROM python:3.11.7-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless maven procps \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/adstage
COPY requirements.lock ./
COPY --from=wheel /dist/ /dist/
RUN pip install --no-cache-dir -c requirements.lock "$(ls /dist/adstage-*.whl)[nightly,gpu]" \
      nvidia-cublas nvidia-cudnn-cu13 nvidia-cuda-runtime nvidia-cufft nvidia-cuda-nvrtc \
 && pip check \
 && python -m adstage.jars --dir /opt/adstage/jars \
 && if python -c "import torch" 2>/dev/null; then echo 'torch must not be in the executor image' >&2; exit 1; fi

# The job scripts spark-submit runs (plain files; the package comes from the wheel above).
COPY jobs/ jobs/

ENV SPARK_HOME=/usr/local/lib/python3.11/site-packages/pyspark \
    PYSPARK_PYTHON=/usr/local/bin/python \
    ADSTAGE_JARS_DIR=/opt/adstage/jars
# GPU discovery for Spark's resource scheduling (spark.executor.resource.gpu.discoveryScript).
COPY docker/gpu-discovery.sh /opt/adstage/gpu-discovery.sh

ENTRYPOINT ["/usr/local/lib/python3.11/site-packages/pyspark/bin/spark-class"]
CMD ["org.apache.spark.deploy.master.Master", "--host", "0.0.0.0", "--port", "7077"]
