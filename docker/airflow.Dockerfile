# Airflow image: scheduler, API server and DAG processor, and the MLflow server of compose.yaml.
# Runtime roles (setup.cfg extras; docs/architecture.md "Runtime roles"):
#   orchestration  Airflow, the Spark provider, pyspark for spark-submit;
#   nightly + cpu  the job drivers: the `spark_default` connection uses client deploy mode, so
#                  each Spark job's driver runs here (it resolves the models and reads the
#                  tables), and gallery, quality_gate and plan_night run here as plain Python;
#   server         full mlflow for `mlflow server` (the jobs need only its client).
# No torch (training runs elsewhere, with the `training` extra). Versions from requirements.lock.
# With cluster deploy mode instead (drivers on the cluster, on the executor image), the
# orchestration extra alone would do for the scheduler, but gallery, quality_gate and
# plan_night would still need nightly here.

# The wheel, built once: the package with schemas/ and models/ as data files (share/adstage/).
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
# psycopg2-binary is the one package outside the lock: the Postgres driver of Airflow's
# metadata database, which only this image needs (tests and `make demo` use SQLite).
RUN pip install --no-cache-dir -c requirements.lock psycopg2-binary==2.9.13 \
      "$(ls /dist/adstage-*.whl)[orchestration,nightly,cpu,server]" \
 && pip check \
 && python -m adstage.jars --dir /opt/adstage/jars \
 && if python -c "import torch" 2>/dev/null; then echo 'torch must not be in the Airflow image' >&2; exit 1; fi

# The DAGs and the job scripts they submit (plain files; the package comes from the wheel).
COPY dags/ dags/
COPY jobs/ jobs/

ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/adstage/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    ADSTAGE_JARS_DIR=/opt/adstage/jars \
    ADSTAGE_SPARK_JARS=/opt/adstage/jars/delta-spark_2.13-4.0.0.jar,/opt/adstage/jars/delta-storage-4.0.0.jar

ENTRYPOINT ["airflow"]
CMD ["api-server"]
