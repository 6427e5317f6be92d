# Spark image for the cluster (master, workers, executors) and the jobs' driver. The nightly path
# runs onnxruntime on numpy, so this image has no torch: onnxruntime-gpu with CUDA 13 + cuDNN 9
# from the same NVIDIA wheels torch's lock resolved (versions from requirements.lock), which
# falls back to the CPU provider on a machine without a GPU.
FROM python:3.11.7-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless maven procps \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/adstage
COPY requirements.lock ./
RUN pip install --no-cache-dir -c requirements.lock \
      pyspark==4.0.1 delta-spark==4.0.0 deltalake==1.6.6 mlflow==3.17.2 \
      numpy==2.4.6 pandas==3.1.1 pyarrow==25.0.1 pillow==13.0.0 \
      opencv-python-headless==5.0.0.93 faiss-cpu==1.15.1 onnx==1.23.2 \
      nvidia-cublas nvidia-cudnn-cu13 nvidia-cuda-runtime nvidia-cufft nvidia-cuda-nvrtc \
 && pip install --no-cache-dir onnxruntime-gpu==1.32.0 \
 && pip check

COPY adstage/ adstage/
COPY jobs/ jobs/
COPY schemas/ schemas/
COPY models/ models/
COPY setup.cfg pyproject.toml README.md ./
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
 && python -m adstage.jars --dir /opt/adstage/jars \
 && python -c "import torch" 2>/dev/null && { echo 'torch must not be in the executor image'; exit 1; } || true

ENV SPARK_HOME=/usr/local/lib/python3.11/site-packages/pyspark \
    PYSPARK_PYTHON=/usr/local/bin/python \
    ADSTAGE_JARS_DIR=/opt/adstage/jars
# GPU discovery for Spark's resource scheduling (spark.executor.resource.gpu.discoveryScript).
COPY docker/gpu-discovery.sh /opt/adstage/gpu-discovery.sh

ENTRYPOINT ["/usr/local/lib/python3.11/site-packages/pyspark/bin/spark-class"]
CMD ["org.apache.spark.deploy.master.Master", "--host", "0.0.0.0", "--port", "7077"]
