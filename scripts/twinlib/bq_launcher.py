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

``python bq_launcher.py install-spatial`` only does the first step (used by setup_twin.sh).
"""

from __future__ import annotations

import re
import sys

ACCEPTED_EXTRA_CONTENT_TYPES = ("*/*",)


def install_spatial_extension() -> str:
    """Install the spatial extension from its wheel unless DuckDB already has it; return its path."""
    import duckdb
    import duckdb_extensions

    con = duckdb.connect()
    try:
        row = con.sql(
            "SELECT installed, install_path FROM duckdb_extensions() WHERE extension_name = 'spatial'"
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
    accept_googlesql_forms()
    from bqemulator.cli import main as bqemulator_main

    bqemulator_main(args=argv, prog_name="bqemulator")


if __name__ == "__main__":
    main(sys.argv[1:])
