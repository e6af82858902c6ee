"""Start bqemulator for the twin (runs with the emulators' interpreter, ``.venv-twin``).

Two adjustments before handing over to ``bqemulator start``:

* DuckDB's spatial extension, which bqemulator loads at start, is installed from the
  ``duckdb-extension-spatial`` wheel (offline) into DuckDB's extension directory.
* Uploads whose media part is declared ``*/*`` are accepted: google-cloud-bigquery sends that
  Content-Type for small ``load_table_from_dataframe``/``load_table_from_file`` uploads, and the
  real service accepts it.

``python bq_launcher.py install-spatial`` only does the first step (used by setup_twin.sh).
"""

from __future__ import annotations

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


def main(argv: list[str]) -> None:
    if argv[:1] == ["install-spatial"]:
        print(f"DuckDB spatial extension ready: {install_spatial_extension()}")
        return
    install_spatial_extension()
    accept_any_upload_content_type()
    load_parquet_by_name()
    from bqemulator.cli import main as bqemulator_main

    bqemulator_main(args=argv, prog_name="bqemulator")


if __name__ == "__main__":
    main(sys.argv[1:])
