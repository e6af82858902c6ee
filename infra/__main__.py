"""mage-gcp: reads the stack config, wires the components, exports the outputs."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi  # noqa: E402

from infra import config as stack_config  # noqa: E402
from infra.components.apis import Apis, ApisArgs  # noqa: E402
from infra.components.ci_identity import CiIdentity, CiIdentityArgs  # noqa: E402
from infra.components.database import Database, DatabaseArgs  # noqa: E402
from infra.components.identity import Identity, IdentityArgs  # noqa: E402
from infra.components.image import Image, ImageArgs  # noqa: E402
from infra.components.mage_service import MageService, MageServiceArgs  # noqa: E402
from infra.components.monitoring import Monitoring, MonitoringArgs  # noqa: E402
from infra.components.network import Network, NetworkArgs  # noqa: E402
from infra.components.runtime_env import RuntimeEnv  # noqa: E402
from infra.components.scheduled_runs import (  # noqa: E402
    ScheduledPipeline,
    ScheduledRuns,
    ScheduledRunsArgs,
)
from infra.components.storage import MageState, MageStateArgs, Storage, StorageArgs  # noqa: E402
from infra.components.warehouse import Warehouse, WarehouseArgs  # noqa: E402
from infra.cost import estimate_for_config  # noqa: E402

cfg = stack_config.from_pulumi()
p = cfg.name_prefix
apis = Apis("apis", ApisArgs(project=cfg.project, with_iap=cfg.ui_access == "iap"))
after_apis = pulumi.ResourceOptions(depends_on=apis.services)

network = Network("network", NetworkArgs(project=cfg.project, region=cfg.region), after_apis)
database = Database(
    "database",
    DatabaseArgs(
        project=cfg.project,
        region=cfg.region,
        prefix=p,
        network_id=network.vpc.id,
        private_services=network.private_services,
        tier=cfg.sql_tier,
        disk_gb=cfg.sql_disk_gb,
        disk_type=cfg.sql_disk_type,
        availability=cfg.sql_availability,
        ssl_mode=cfg.sql_ssl_mode,
        backup_count=cfg.sql_backup_count,
        log_retention_days=cfg.sql_log_retention_days,
        deletion_protection=cfg.deletion_protection,
    ),
    after_apis,
)
storage = Storage(
    "storage",
    StorageArgs(
        project=cfg.project,
        region=cfg.region,
        bucket_name=f"{cfg.project}-{p}-lake",
        versioning=cfg.lake_versioning,
        delete_after_days=cfg.lake_delete_after_days,
    ),
    after_apis,
)
state = MageState(
    "state",
    MageStateArgs(
        project=cfg.project,
        region=cfg.region,
        prefix=p,
        bucket_name=f"{cfg.project}-{p}-mage-state",
        log_retention_days=cfg.log_retention_days,
        variables_retention_days=cfg.variables_retention_days,
        project_volume=cfg.ui_edits == "persist",
    ),
    after_apis,
)
warehouse = Warehouse(
    "warehouse",
    WarehouseArgs(
        project=cfg.project, dataset_id=cfg.bigquery_dataset, location=cfg.dataset_location
    ),
    after_apis,
)
image = Image(
    "image", ImageArgs(project=cfg.project, region=cfg.region, repository_id=p), after_apis
)
identity = Identity(
    "identity",
    IdentityArgs(
        project=cfg.project,
        prefix=p,
        bucket_name=storage.bucket_name,
        state_bucket_name=state.bucket_name,
        dataset_id=warehouse.dataset_id,
        secret_ids={
            "taxi-password": database.taxi_password.secret_id,
            "mage-db-url": database.mage_url.secret_id,
            "mage-secrets-key": state.secrets_key.secret_id,
        },
    ),
    after_apis,
)
env = RuntimeEnv(
    project=cfg.project,
    region=cfg.region,
    bucket_name=storage.bucket_name,
    dataset_id=warehouse.dataset_id,
    postgres_host=database.private_ip,
    taxi_user=database.taxi_user,
    taxi_database=database.taxi_database,
    taxi_password_secret=database.taxi_password.secret_id,
    mage_url_secret=database.mage_url.secret_id,
    taxi_data_base_url=cfg.taxi_data_base_url,
    state_bucket=state.bucket_name,
    secrets_key_secret=state.secrets_key.secret_id,
)
runtime_ready = [
    *identity.secret_grants,
    *identity.state_grants,
    database.mage_url.version,
    database.taxi_password.version,
    state.secrets_key.version,
]
service = MageService(
    "mage",
    MageServiceArgs(
        project=cfg.project,
        region=cfg.region,
        prefix=p,
        image=image.ref,
        service_account=identity.runtime.email,
        runtime_member=identity.runtime_member,
        env=env,
        network=network.vpc.id,
        subnet=network.subnet.id,
        owner_email=cfg.owner_email,
        always_on=cfg.always_on,
        cpu=cfg.service_cpu,
        memory=cfg.service_memory,
        ui_access=cfg.ui_access,
        ui_members=cfg.ui_members,
        deletion_protection=cfg.deletion_protection,
        depends_on=runtime_ready,
        ui_edits=cfg.ui_edits,
        state_bucket=state.bucket_name,
    ),
    after_apis,
)
runs = ScheduledRuns(
    "runs",
    ScheduledRunsArgs(
        project=cfg.project,
        region=cfg.region,
        prefix=p,
        image=image.ref,
        service_account=identity.runtime.email,
        scheduler_email=identity.scheduler.email,
        env=env,
        network=network.vpc.id,
        subnet=network.subnet.id,
        schedules=[
            ScheduledPipeline(s.pipeline, s.cron, s.time_zone, dict(s.variables))
            for s in cfg.schedules
        ],
        cpu=cfg.job_cpu,
        memory=cfg.job_memory,
        timeout_minutes=cfg.job_timeout_minutes,
        deletion_protection=cfg.deletion_protection,
        depends_on=runtime_ready,
        ui_edits=cfg.ui_edits,
        state_bucket=state.bucket_name,
    ),
    after_apis,
)
monitoring = Monitoring(
    "monitoring",
    MonitoringArgs(project=cfg.project, prefix=p, alert_emails=cfg.alert_emails),
    after_apis,
)

pulumi.export("ui_url", service.url)
pulumi.export("bucket", storage.bucket_name)
pulumi.export("state_bucket", state.bucket_name)
pulumi.export("dataset", warehouse.dataset_id)
pulumi.export("sql_connection_name", database.connection_name)
pulumi.export("sql_private_ip", database.private_ip)
pulumi.export("runtime_service_account", identity.runtime.email)
pulumi.export("scheduler_service_account", identity.scheduler.email)
pulumi.export("image_ref", image.ref)
pulumi.export("image_digest", image.digest)
pulumi.export("owner_password_secret", service.owner_secret.secret_id)
pulumi.export("pipeline_jobs", {pipeline: job.name for pipeline, job in runs.jobs.items()})
if cfg.github_repository:
    ci = CiIdentity(
        "ci",
        CiIdentityArgs(project=cfg.project, prefix=p, github_repository=cfg.github_repository),
        after_apis,
    )
    pulumi.export("deployer_service_account", ci.deployer.email)
    pulumi.export("workload_identity_provider", ci.provider.name)
pulumi.export("estimated_idle_monthly_usd", estimate_for_config(cfg).idle_total)
