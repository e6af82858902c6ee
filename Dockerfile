# The image Cloud Run runs (service: Mage UI; job: `mage run`): the official Mage image, pinned to
# the same version as uv.lock, plus this repository's Mage project and the libraries its blocks
# use at the exact local versions. Built and pushed by `pulumi up` (infra/components/image.py).
#
# Base image facts (mage-ai's own Dockerfile): Python 3.10, `mage-ai[all]==0.9.80` installed
# system-wide, WORKDIR /home/src, PYTHONPATH includes /home/src, runs as root.
FROM mageai/mageai:0.9.80

# Re-pin our libraries to uv.lock (mage-ai[all] ships older ones, e.g. google-cloud-storage 2.5).
# pip reports that mage-ai's optional extras wanted those older versions; locally mage-ai 0.9.80
# runs with exactly these, so the warning is expected.
COPY docker/requirements.txt /tmp/requirements-image.txt
RUN pip install --no-cache-dir --disable-pip-version-check -r /tmp/requirements-image.txt \
    && rm /tmp/requirements-image.txt

# An unprivileged user owns the project and Mage's data directory.
RUN groupadd --gid 10001 mage \
    && useradd --uid 10001 --gid mage --create-home --shell /usr/sbin/nologin mage \
    && mkdir -p /home/src/mage_data \
    && chown mage:mage /home/src /home/src/mage_data

# The project is root's: the user can read and run it, not change it. prod refuses UI edits this
# way even for the owner account (Mage's DISABLE_NOTEBOOK_EDIT_ACCESS does not bind its owner);
# dev mounts its project volume, owned by the user, over this folder (docs/hosted-ui.md).
COPY mage_project/ /home/src/mage_project/
# The entrypoint of the service and the jobs (python -m mage_runner start|run), and a read-only
# copy of the project that seeds the dev project volume on its first start (docs/hosted-ui.md).
COPY scripts/mage_runner/ /home/src/mage_runner/
COPY mage_project/ /opt/mage-gcp/seed/mage_project/

# Defaults for everything that is the same in every deployment; the stack sets the rest
# (POSTGRES_HOST/USER, GCS_BUCKET, GCP_PROJECT_ID, ...) and injects secrets by reference.
# LANG: a UTF-8 locale, so Python does not coerce the C locale (PEP 538) by adding LC_CTYPE to
# the env that `mage_runner start` hands to `mage start`.
ENV USER_CODE_PATH=/home/src/mage_project \
    MAGE_DATA_DIR=/home/src/mage_data \
    REQUIRE_USER_AUTHENTICATION=1 \
    POSTGRES_PORT=5432 \
    POSTGRES_DBNAME=taxi \
    POSTGRES_SCHEMA=ny_taxi \
    BIGQUERY_DATASET=ny_taxi \
    GCP_REGION=us-central1 \
    TAXI_DATA_BASE_URL=https://github.com/DataTalksClub/nyc-tlc-data/releases/download \
    GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false \
    PYTHONUNBUFFERED=1 \
    LANG=C.UTF-8

USER 10001:10001
WORKDIR /home/src
EXPOSE 6789
CMD ["python", "-m", "mage_runner", "start", "mage_project"]
