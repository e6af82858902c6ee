"""Build a pipeline the way Mage's UI does (``Block.create`` with a ``data_source`` template,
as ``POST /api/pipelines/<uuid>/blocks`` does), in the project given as argv[1].

    python build_template_pipeline.py <project dir> <pipeline> <bucket> <source object> <table>

Blocks, from Mage's own templates:
0. ``wait_for_trips``: the GCS sensor template (waits until the object exists);
1. ``load_csv_from_gcs``: the GCS data-loader template (``GoogleCloudStorage.with_config``);
2. ``trips_to_bigquery``: a SQL data exporter on the BigQuery connection (profile ``default``),
   ``SELECT * FROM {{ df_1 }}`` into ``ny_taxi.<table>``;
3. ``copy_to_gcs``: the GCS data-exporter template, writing the loaded frame back as parquet.

The only edits are the ones a user makes in the template: bucket and object names.
"""

from __future__ import annotations

import sys


def main(project: str, pipeline_uuid: str, bucket: str, source: str, table: str) -> None:
    from mage_ai.settings.repo import set_repo_path

    set_repo_path(project)
    from mage_ai.data_preparation.models.block import Block
    from mage_ai.data_preparation.models.pipeline import Pipeline

    pipeline = Pipeline.create(pipeline_uuid, repo_path=project)

    def from_template(name: str, block_type: str, data_source: str, upstream: list[str]) -> Block:
        block = Block.create(
            name,
            block_type,
            project,
            config={"data_source": data_source},
            language="python",
            pipeline=pipeline,
            upstream_block_uuids=upstream,
        )
        content = block.content
        assert "your_bucket_name" in content and "your_object_key" in content, content
        return block, content

    sensor, content = from_template("wait_for_trips", "sensor", "google_cloud_storage", [])
    sensor.update_content(
        content.replace("your_bucket_name", bucket).replace("your_object_key", source)
    )
    loader, content = from_template(
        "load_csv_from_gcs", "data_loader", "google_cloud_storage", [sensor.uuid]
    )
    loader.update_content(
        content.replace("your_bucket_name", bucket).replace("your_object_key", source)
    )

    sql = Block.create(
        "trips_to_bigquery",
        "data_exporter",
        project,
        configuration={
            "data_provider": "bigquery",
            "data_provider_profile": "default",
            "data_provider_schema": "ny_taxi",
            "data_provider_table": table,
            "export_write_policy": "replace",
        },
        language="sql",
        pipeline=pipeline,
        upstream_block_uuids=[loader.uuid],
    )
    sql.update_content(
        "-- Docs: https://docs.mage.ai/guides/sql-blocks\nSELECT * FROM {{ df_1 }}\n"
    )

    exporter, content = from_template(
        "copy_to_gcs", "data_exporter", "google_cloud_storage", [loader.uuid]
    )
    exporter.update_content(
        content.replace("your_bucket_name", bucket).replace(
            "your_object_key", f"{pipeline_uuid}/copy.parquet"
        )
    )
    print(
        f"built {pipeline_uuid}: {[b for b in Pipeline.get(pipeline_uuid, repo_path=project).blocks_by_uuid]}"
    )


if __name__ == "__main__":
    main(*sys.argv[1:6])
