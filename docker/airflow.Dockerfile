# Airflow image: scheduler, API server and DAG processor. It submits Spark jobs with
# spark-submit (client of the cluster in the `spark_default` connection) and needs neither torch
# nor onnxruntime: only Airflow, the Spark provider and pyspark (for spark-submit), constrained
# to exactly the versions in requirements.lock.
FROM python:3.11.7-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless maven procps \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/adstage
COPY requirements.lock ./
# psycopg2-binary is the one package outside the lock: the Postgres driver of Airflow's
# metadata database, which only this image needs (tests and `make demo` use SQLite).
RUN pip install --no-cache-dir -c requirements.lock psycopg2-binary==2.9.13 \
      apache-airflow==3.1.8 apache-airflow-providers-apache-spark==6.3.4 \
      pyspark==4.0.1 pyspark-client==4.0.1 delta-spark==4.0.0 mlflow==3.17.2 \
 && pip check

COPY dags/ dags/
COPY jobs/ jobs/
COPY schemas/ schemas/
COPY adstage/ adstage/
COPY setup.cfg pyproject.toml README.md ./
# The jobs' package is installed too (without dependencies): the DAG only needs the job paths,
# but `adstage tables` / `adstage runs` are handy for operators on this image.
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
 && python -m adstage.jars --dir /opt/adstage/jars

ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/adstage/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    ADSTAGE_JARS_DIR=/opt/adstage/jars \
    ADSTAGE_SPARK_JARS=/opt/adstage/jars/delta-spark_2.13-4.0.0.jar,/opt/adstage/jars/delta-storage-4.0.0.jar

ENTRYPOINT ["airflow"]
CMD ["api-server"]
