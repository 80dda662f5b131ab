# The newsmon image: Apache Airflow 3.3 + the newsmon package + the providers it uses,
# with the DAGs and plugins baked in. Used by every Airflow service in docker-compose.yml.
#
#   docker compose build          (or: docker build -t newsmon-airflow .)
#
# The base image already contains Airflow; installing with the repository's
# constraints.txt (the versions the test suite ran with, including apache-airflow itself)
# keeps pip from upgrading or downgrading Airflow or anything it depends on.
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11

# --- build stage: the newsmon wheel, with its C extension (ingest/topics/_textscan.c).
# The Airflow image has no C compiler, and without one pip quietly installs the pure-Python
# twins (the topic index several times slower): the compiler stays in this stage.
# The stage is thrown away: it builds as root, so that it may write anywhere it likes.
FROM ${AIRFLOW_IMAGE} AS wheel
USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml setup.py README.md constraints.txt /opt/newsmon/src/
COPY ingest /opt/newsmon/src/ingest
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /opt/newsmon/wheels /opt/newsmon/src

# --- the image
FROM ${AIRFLOW_IMAGE}

# Pinned again so a wrong base image fails the build instead of mixing Airflow versions.
ARG AIRFLOW_VERSION=3.3.2

USER airflow

# Dependencies first (this layer is rebuilt only when the pins, metadata or code change)...
COPY --chown=airflow:0 constraints.txt /opt/newsmon/src/
COPY --from=wheel --chown=airflow:0 /opt/newsmon/wheels /opt/newsmon/wheels

# `newsmon[postgres]` is newsmon itself (the wheel built above) with psycopg 3; the
# providers are listed one by one instead of the `airflow` extra so pip does not try to
# reinstall apache-airflow's own dependency tree on top of the image's. The last check
# fails the build if the wheel came without its C extension.
RUN pip install --no-cache-dir \
        --constraint /opt/newsmon/src/constraints.txt \
        "apache-airflow==${AIRFLOW_VERSION}" \
        "newsmon[postgres] @ file://$(ls /opt/newsmon/wheels/newsmon-*.whl)" \
        apache-airflow-providers-standard \
        apache-airflow-providers-celery \
        apache-airflow-providers-postgres \
        apache-airflow-providers-smtp \
        "celery[redis]" \
        redis \
    && python -c "import ingest, airflow; assert airflow.__version__ == '${AIRFLOW_VERSION}', airflow.__version__" \
    && python -c "import ingest.topics._textscan"

# ...then the thin Airflow layer, which changes most often.
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/

# auth/: the simple auth manager's passwords file (a named volume in compose, which
# inherits this ownership); newsmon/: NEWSMON_HOME. Group-writable like the rest of
# /opt/airflow, so a custom AIRFLOW_UID in group 0 can write too.
RUN mkdir -p /opt/airflow/auth /opt/airflow/newsmon \
    && chmod g+rwx /opt/airflow/auth /opt/airflow/newsmon

ENV NEWSMON_CONFIG_PATH=/opt/newsmon/newsmon.yaml
