"""The course's exporter: Mage's Postgres io class, replacing the whole table."""

from os import path

from mage_ai.io.config import ConfigFileLoader
from mage_ai.io.postgres import Postgres
from mage_ai.settings.repo import get_repo_path
from pandas import DataFrame

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter


@data_exporter
def export_data_to_postgres(df: DataFrame, **kwargs) -> None:
    schema_name = "ny_taxi"
    table_name = "yellow_cab_data"
    config_path = path.join(get_repo_path(), "io_config.yaml")
    config_profile = "dev"

    with Postgres.with_config(ConfigFileLoader(config_path, config_profile)) as loader:
        loader.export(
            df,
            schema_name,
            table_name,
            index=False,  # Specifies whether to include index in exported table
            if_exists="replace",  # Specify resolution policy if table name already exists
        )
