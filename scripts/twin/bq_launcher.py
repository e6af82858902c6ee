"""Start bqemulator for the twin (runs with the emulators' interpreter, ``.venv-twin``).

Two adjustments before handing over to ``bqemulator start``:

* DuckDB's spatial extension, which bqemulator loads at start, is installed from the
  ``duckdb-extension-spatial`` wheel (offline) into DuckDB's extension directory.
* ``<dataset>.__TABLES_SUMMARY__`` (BigQuery's legacy meta-table, which Mage's BigQuery
  exporter and SQL blocks query to see whether a table exists) is read from
  ``INFORMATION_SCHEMA.TABLES``, which bqemulator implements.
* An unquoted table path whose project has dashes (``FROM my-project.dataset.table``), which
  GoogleSQL allows in FROM/JOIN and Mage's SQL blocks send, is quoted before translation.
* Uploads whose media part is declared ``*/*`` are accepted: google-cloud-bigquery sends that
  Content-Type for small ``load_table_from_dataframe``/``load_table_from_file`` uploads, and the
  real service accepts it.
* Load jobs get BigQuery's semantics that the pipelines rely on (see :func:`partition_loads`):
  atomic, partition decorators (``table$YYYYMM``) on time-partitioned tables,
  ``outputRows`` counting the rows loaded, and ``gs://`` source URIs read from the twin's GCS
  emulator as BigQuery reads Cloud Storage (wildcards, ``notFound`` for a URI with no object:
  :mod:`twin.bq_gcs`).

``python bq_launcher.py install-spatial`` only does the first step (used by setup_twin.sh).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from twin import bq_gcs

ACCEPTED_EXTRA_CONTENT_TYPES = ("*/*",)


def install_spatial_extension() -> str:
    """Install the spatial extension from its wheel unless DuckDB already has it; return its path.

    Under a lock in DuckDB's home folder: emulators starting at once on a HOME without the
    extension (the workers of a test session) otherwise load it while another one is still
    writing it ("Extension ... not found")."""
    import fcntl
    from pathlib import Path

    import duckdb
    import duckdb_extensions

    home = Path.home() / ".duckdb"
    home.mkdir(parents=True, exist_ok=True)
    with (home / "mage-gcp-install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        con = duckdb.connect()
        try:
            row = con.sql(
                "SELECT installed, install_path FROM duckdb_extensions() "
                "WHERE extension_name = 'spatial'"
            ).fetchone()
            if row is None or not row[0]:
                duckdb_extensions.import_extension("spatial", con=con)
                row = con.sql(
                    "SELECT installed, install_path FROM duckdb_extensions() "
                    "WHERE extension_name = 'spatial'"
                ).fetchone()
            con.sql("LOAD spatial")
            return str(row[1])
        finally:
            con.close()


def accept_any_upload_content_type() -> None:
    """Add ``*/*`` to bqemulator's allowed upload media types."""
    from bqemulator.api.routes import upload

    allowed = tuple(upload._PERMITTED_MEDIA_CONTENT_TYPES)
    upload._PERMITTED_MEDIA_CONTENT_TYPES = allowed + tuple(
        t for t in ACCEPTED_EXTRA_CONTENT_TYPES if t not in allowed
    )


def load_parquet_by_name() -> None:
    """Replace bqemulator's parquet load handler with a by-name, non-hive one."""
    from bqemulator.jobs import executor

    def load_parquet(path: str, target_ref: str, ctx) -> None:
        ctx.engine.execute(
            f"INSERT INTO {target_ref} BY NAME "
            "SELECT * FROM read_parquet(?, hive_partitioning = false, union_by_name = true)",
            [path],
        )

    executor._LOAD_FORMAT_HANDLERS["PARQUET"] = load_parquet


class LoadDataError(Exception):
    """The loaded rows do not fit the destination; reported as the job's ``errorResult``."""


#: Partition id format of each time-partitioning type (``table$<id>``), as BigQuery documents:
#: https://cloud.google.com/bigquery/docs/managing-partitioned-table-data#partition_decorators
PARTITION_ID_FORMATS = {"HOUR": "%Y%m%d%H", "DAY": "%Y%m%d", "MONTH": "%Y%m", "YEAR": "%Y"}


def partition_loads() -> None:
    """Replace bqemulator's load job with one that has BigQuery's semantics for what we use.

    - **Atomic**: the rows are read into a temporary table first and the destination changes in
      one DuckDB transaction, so a failing load (unreadable file, wrong rows) leaves the table
      as before (bqemulator 1.4.0 deletes on WRITE_TRUNCATE before reading the file).
    - **Partition decorators** ``table$<id>`` on a time-partitioned table (the id format of its
      type, e.g. ``202101`` for MONTH): WRITE_TRUNCATE replaces that partition only,
      WRITE_APPEND appends to it, WRITE_EMPTY requires it empty; every loaded row's partition
      column must fall in it, else the load fails (BigQuery: "the decorator must match the
      data"). A decorator on an unpartitioned or missing table is an error; the provided schema
      must equal the table's (a partition write cannot change the schema).
    - ``CREATE_NEVER`` on a missing table is ``notFound``; ``statistics.load.outputRows`` is the
      rows this job loaded (bqemulator reported the table's total).

    Loads into a missing table that may be created (``CREATE_IF_NEEDED``) keep bqemulator's path.
    """
    from bqemulator.api.routes import jobs as jobs_routes
    from bqemulator.api.routes import upload as upload_routes
    from bqemulator.jobs import executor

    original = executor.execute_load_job

    async def execute_load_job(project_id: str, job_id: str, config: dict, ctx):
        load = dict(config.get("load", {}))
        destination = dict(load.get("destinationTable", {}))
        table_id, decorated, partition = destination.get("tableId", "").partition("$")
        plain = {
            **config,
            "load": {**load, "destinationTable": {**destination, "tableId": table_id}},
        }
        job = executor._parse_load_job_config(project_id, plain)
        meta = ctx.catalog.get_table(job.project_id, job.dataset_id, job.table_id)

        def failed(reason: str, message: str):
            return jobs_routes._failed_job_meta(
                project_id=project_id,
                job_id=job_id,
                job_type="LOAD",
                config=config,
                error_result={"reason": reason, "message": message},
                now=ctx.clock.now(),
            )

        if meta is None and (decorated or job.create_disposition == "CREATE_NEVER"):
            return failed(
                "notFound", f"Not found: Table {job.project_id}:{job.dataset_id}.{job.table_id}"
            )
        where = _partition_filter(meta, partition) if meta is not None and decorated else None
        if meta is not None and decorated:
            _check_schema(meta, load)
        with _staging_dir() as staging:
            try:
                paths, read = _source_paths(job.source_uris, staging, ctx)
            except bq_gcs.SourceError as error:
                return failed(error.reason, error.message)
            if meta is None:  # CREATE_IF_NEEDED into a new table: bqemulator's path, same files
                local = {**config, "load": {**load, "sourceUris": [f"file://{p}" for p in paths]}}
                result = await original(project_id, job_id, local, ctx)
                return result.model_copy(update={"configuration": config})
            started = ctx.clock.now()
            async with ctx.engine.write_lock():
                loaded = _load_atomically(job, where, paths, ctx)
        total = executor._refresh_load_row_count(job, ctx)
        ctx.catalog.update_table(
            meta.model_copy(update={"num_rows": total, "last_modified_time": ctx.clock.now()})
        )
        async with ctx.engine.write_lock():
            ctx.snapshots.record_change(job.project_id, job.dataset_id, job.table_id)
        return executor.JobMeta(
            project_id=project_id,
            job_id=job_id,
            job_type="LOAD",
            state="DONE",
            configuration=config,
            statistics={
                "load": {
                    "outputRows": str(loaded),
                    "inputFiles": str(len(paths)),
                    "inputFileBytes": str(read),
                }
            },
            creation_time=started,
            start_time=started,
            end_time=ctx.clock.now(),
            etag=executor.generate_etag(project_id, job_id, str(started)),
        )

    executor.execute_load_job = execute_load_job
    jobs_routes.execute_load_job = execute_load_job
    upload_routes.execute_load_job = execute_load_job


@contextlib.contextmanager
def _staging_dir() -> Iterator[Path]:
    """A private folder for one job's source copies (in the twin's upload staging dir)."""
    root = os.environ.get("BQEMU_UPLOAD_STAGING_DIR")
    if root:
        Path(root).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="load-", dir=root) as folder:
        yield Path(folder)


def _source_paths(uris: list[str], staging: Path, ctx) -> tuple[list[str], int]:
    """Local files of the job's sources, in URI order, and the bytes read from GCS: ``gs://``
    URIs are read from the twin's GCS emulator (bq_gcs), ``file://`` and paths as they are
    (uploads). Raises bq_gcs.SourceError for a URI BigQuery would refuse."""
    from bqemulator.jobs import executor

    paths: list[str] = []
    read = 0
    for uri in uris:
        if uri.startswith("gs://"):
            sources = bq_gcs.fetch([uri], staging)
            paths += [str(p) for p in sources.paths]
            read += sources.bytes
        else:
            paths.append(executor._resolve_uri(uri, ctx))
    for path in paths:
        executor._validate_local_path(path)
    return paths, read


def _partition_filter(meta, partition: str) -> tuple[str, list[str]]:
    """SQL condition (and parameters) selecting rows of partition ``partition`` of ``meta``."""
    from datetime import datetime

    from bqemulator.domain.errors import InvalidQueryError

    name = f"{meta.table_id}${partition}"
    tp = meta.time_partitioning
    if tp is None or not tp.field:
        raise InvalidQueryError(
            f"Cannot load into {name}: the table is not partitioned on a column, so it has no "
            "partition decorators here."
        )
    fmt = PARTITION_ID_FORMATS[tp.type]
    try:
        datetime.strptime(partition, fmt)
        valid = len(partition) == len(datetime(2000, 1, 1).strftime(fmt))
    except ValueError:
        valid = False
    if not valid:
        raise InvalidQueryError(
            f"Invalid partition decorator {name}: a {tp.type} partition id looks like "
            f"{datetime(2021, 1, 1).strftime(fmt)}."
        )
    return f"strftime(\"{tp.field}\", '{fmt}') IS NOT DISTINCT FROM ?", [partition]


def _check_schema(meta, load: dict) -> None:
    from bqemulator.domain.errors import InvalidQueryError

    given = (load.get("schema") or {}).get("fields")
    if not given:
        return
    table = [(f.name.lower(), f.type.upper()) for f in meta.schema_.fields]
    aliases = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}
    provided = [
        (f["name"].lower(), aliases.get(f["type"].upper(), f["type"].upper())) for f in given
    ]
    table = [(n, aliases.get(t, t)) for n, t in table]
    if provided != table:
        raise InvalidQueryError(
            f"Provided Schema does not match Table {meta.dataset_id}.{meta.table_id}; a "
            "partition load cannot change the table's schema."
        )


def _load_atomically(job, where: tuple[str, list[str]] | None, paths: list[str], ctx) -> int:
    """Read every file into a temporary table, check it, then change the destination in one
    transaction; returns the rows loaded. Any error rolls everything back."""
    import uuid

    from bqemulator.domain.errors import InvalidQueryError
    from bqemulator.jobs import executor

    handler = executor._LOAD_FORMAT_HANDLERS.get(job.source_format)
    if handler is None:
        raise InvalidQueryError(f"Unknown source format: {job.source_format}")
    engine, staging = ctx.engine, f'"_twin_load_{uuid.uuid4().hex}"'
    scope, params = where if where else ("TRUE", [])

    def count(table: str, condition: str) -> int:
        """Rows of ``table`` where ``condition`` (with the load's ``params``) holds."""
        sql = f"SELECT COUNT(*) FROM {table} WHERE {condition}"
        return engine.execute(sql, params).fetchone()[0]

    engine.execute("BEGIN TRANSACTION")
    try:
        engine.execute(f"CREATE TEMP TABLE {staging} AS SELECT * FROM {job.target_ref} LIMIT 0")
        for path in paths:
            handler(path, staging, ctx)
        (loaded,) = engine.execute(f"SELECT COUNT(*) FROM {staging}").fetchone()
        if where:
            outside = count(staging, f"NOT ({scope})")
            if outside:
                raise LoadDataError(
                    f"{outside} row(s) are outside partition {params[0]} of "
                    f"{job.dataset_id}.{job.table_id}; the partition decorator must match the "
                    "data's partition column."
                )
        if job.write_disposition == "WRITE_TRUNCATE":
            engine.execute(f"DELETE FROM {job.target_ref} WHERE {scope}", params)
        elif job.write_disposition == "WRITE_EMPTY" and count(job.target_ref, scope):
            raise InvalidQueryError(
                f"{job.dataset_id}.{job.table_id} is not empty and writeDisposition is WRITE_EMPTY"
            )
        engine.execute(f"INSERT INTO {job.target_ref} BY NAME SELECT * FROM {staging}")
        engine.execute(f"DROP TABLE {staging}")
        engine.execute("COMMIT")
    except BaseException:
        engine.execute("ROLLBACK")
        raise
    return int(loaded)


#: ``[`][project.]dataset.__TABLES_SUMMARY__[`]`` in a query, any quoting.
TABLES_SUMMARY = re.compile(
    r"`?(?:(?P<project>[A-Za-z0-9_\-]+)`?\s*\.\s*`?)?(?P<dataset>[A-Za-z0-9_]+)`?\s*\.\s*"
    r"`?__TABLES_SUMMARY__`?",
    flags=re.IGNORECASE,
)


def tables_summary_sql(sql: str) -> str:
    """``dataset.__TABLES_SUMMARY__`` → a subquery on ``dataset.INFORMATION_SCHEMA.TABLES`` with
    the meta-table's columns (project_id, dataset_id, table_id, creation_time, type: 1 table,
    2 view, 3 other; https://cloud.google.com/bigquery/docs/dataset-metadata#tables_summary)."""

    def subquery(match: re.Match[str]) -> str:
        scope = ".".join(part for part in match.group("project", "dataset") if part)
        return (
            "(SELECT table_catalog AS project_id, table_schema AS dataset_id, "
            "table_name AS table_id, creation_time, CASE table_type WHEN 'BASE TABLE' THEN 1 "
            f"WHEN 'VIEW' THEN 2 ELSE 3 END AS type FROM `{scope}.INFORMATION_SCHEMA.TABLES`)"
        )

    return TABLES_SUMMARY.sub(subquery, sql) if "__TABLES_SUMMARY__" in sql.upper() else sql


#: ``FROM|JOIN my-project.dataset.table`` (unquoted, the project has a dash).
DASHED_PATH = re.compile(
    r"\b(?P<keyword>FROM|JOIN)(?P<space>\s+)"
    r"(?P<path>[A-Za-z][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)+(?:\.[A-Za-z_][A-Za-z0-9_]*){1,2})\b",
    flags=re.IGNORECASE,
)


def quote_dashed_paths(sql: str) -> str:
    """Quote unquoted dashed table paths in FROM/JOIN, which GoogleSQL accepts
    (https://cloud.google.com/bigquery/docs/reference/standard-sql/lexical#table_names)."""
    return DASHED_PATH.sub(lambda m: f"{m['keyword']}{m['space']}`{m['path']}`", sql)


def googlesql_compat(sql: str) -> str:
    """The GoogleSQL forms above, rewritten into ones bqemulator understands."""
    return tables_summary_sql(quote_dashed_paths(sql))


def accept_googlesql_forms() -> None:
    """Apply :func:`googlesql_compat` before bqemulator expands ``INFORMATION_SCHEMA``."""
    from bqemulator.sql import inner_query

    expand = inner_query.expand_information_schema

    def expand_with_summary(bq_sql: str, project_id: str, catalog):
        return expand(googlesql_compat(bq_sql), project_id, catalog)

    inner_query.expand_information_schema = expand_with_summary


def main(argv: list[str]) -> None:
    if argv[:1] == ["install-spatial"]:
        print(f"DuckDB spatial extension ready: {install_spatial_extension()}")
        return
    install_spatial_extension()
    accept_any_upload_content_type()
    load_parquet_by_name()
    partition_loads()
    accept_googlesql_forms()
    from bqemulator.cli import main as bqemulator_main

    bqemulator_main(args=argv, prog_name="bqemulator")


if __name__ == "__main__":
    main(sys.argv[1:])
