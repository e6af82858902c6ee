# syntax=docker/dockerfile:1
# The image Cloud Run runs (service: the Mage UI; jobs: pipeline runs and backfill tasks): Debian
# bookworm's Python 3.11 with Mage and our libraries installed from uv.lock (the `mage` group only,
# --frozen), the same resolution the test suite runs. Built and pushed by `pulumi up`
# (infra/components/image.py); built here by the test suite with buildah (tools/image.py).
#
# BASE_IMAGE: debian:bookworm-slim pinned by digest. The test suite passes a local equivalent made
# from Debian's packages (debootstrap --variant=minbase bookworm) because no registry is reachable
# there; everything after FROM is the same file (DESIGN.md, "The image").
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim@sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251

FROM ${BASE_IMAGE} AS python
# Debian's Python 3.11 (bookworm), the only Python of the image. Versions are not pinned
# (DL3008): bookworm's archive keeps only the current build of a package, so a pin would break the
# build at the next security update; the suite's test_image.py checks the Python it got.
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       python3.11 ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# An unprivileged user owns Mage's data directory (uid 10001: infra/components/runtime_env.py).
RUN groupadd --gid 10001 mage \
    && useradd --uid 10001 --gid mage --create-home --shell /usr/sbin/nologin mage \
    && mkdir -p /home/src/mage_data \
    && chown mage:mage /home/src /home/src/mage_data

FROM python AS build
# uv, pinned like scripts/setup.sh's, in a venv of its own (Debian's Python refuses a system pip).
ARG UV_VERSION=0.13.9
# Set only by the test suite: a host CA bundle (a TLS proxy) and the host's uv cache.
ARG SSL_CERT_FILE
ARG UV_CACHE_DIR
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3.11-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv /opt/uv \
    && PIP_CERT="${SSL_CERT_FILE}" /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
# The lock alone decides what is installed: a changed lock reinstalls, a changed project does not.
COPY pyproject.toml uv.lock /src/
WORKDIR /src
RUN --mount=type=cache,target=/root/.cache/uv \
    UV_PROJECT_ENVIRONMENT=/opt/venv UV_PYTHON=/usr/bin/python3.11 UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1 \
    /opt/uv/bin/uv sync --frozen --no-dev --only-group mage --no-install-project

FROM python
COPY --from=build /opt/venv /opt/venv

# The project is root's: the user can read and run it, not change it. prod refuses UI edits this
# way even for the owner account (Mage's DISABLE_NOTEBOOK_EDIT_ACCESS does not bind its owner);
# dev mounts its project volume, owned by the user, over this folder (docs/hosted-ui.md).
COPY mage_project/ /home/src/mage_project/
# The entrypoint of the service and the jobs (python -m mage_runner start|run|backfill), and a
# read-only copy of the project that seeds the dev project volume on its first start.
COPY scripts/mage_runner/ /home/src/mage_runner/
COPY mage_project/ /opt/mage-gcp/seed/mage_project/
# Bytecode for our code too (the user cannot write it beside read-only sources): a cold start
# compiles nothing.
RUN /opt/venv/bin/python -m compileall -q /home/src/mage_project /home/src/mage_runner /opt/mage-gcp/seed

# Defaults for everything that is the same in every deployment; the stack sets the rest
# (POSTGRES_HOST/USER, GCS_BUCKET, GCP_PROJECT_ID, TAXI_DATA_BASE_URL, ...) and injects secrets by
# reference. The CMD is mage_project/utils/image_contract.py's runner_argv("start").
# LANG: a UTF-8 locale, so Python does not coerce the C locale (PEP 538) by adding LC_CTYPE to
# the env that `mage_runner start` hands to `mage start`.
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    VIRTUAL_ENV=/opt/venv \
    PYTHONPATH=/home/src:/home/src/mage_runner/mage_site \
    USER_CODE_PATH=/home/src/mage_project \
    MAGE_DATA_DIR=/home/src/mage_data \
    REQUIRE_USER_AUTHENTICATION=1 \
    POSTGRES_PORT=5432 \
    POSTGRES_DBNAME=taxi \
    POSTGRES_SCHEMA=ny_taxi \
    BIGQUERY_DATASET=ny_taxi \
    GCP_REGION=us-central1 \
    GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LANG=C.UTF-8

USER 10001:10001
WORKDIR /home/src
EXPOSE 6789
CMD ["python", "-m", "mage_runner", "start", "mage_project"]
