"""mage-gcp: reads the stack config, wires the components, exports the outputs."""

from typing import TypeVar

import pulumi

from infra import config as stack_config
from infra.components.apis import Apis, ApisArgs
from infra.components.backfill import Backfill, BackfillArgs
from infra.components.ci_identity import CiIdentity, CiIdentityArgs
from infra.components.database import Database, DatabaseArgs
from infra.components.identity import Identity, IdentityArgs
from infra.components.image import Image, ImageArgs
from infra.components.mage_service import MageService, MageServiceArgs
from infra.components.monitoring import Monitoring, MonitoringArgs
from infra.components.network import Network, NetworkArgs
from infra.components.runtime_env import RuntimeEnv
from infra.components.scheduled_runs import ScheduledRuns, ScheduledRunsArgs
from infra.components.storage import MageState, MageStateArgs, Storage, StorageArgs
from infra.components.warehouse import Warehouse, WarehouseArgs

T = TypeVar("T")
cfg = stack_config.from_pulumi()
p = cfg.name_prefix
apis = Apis("apis", ApisArgs(project=cfg.project, with_iap=cfg.iap))
# Everything else waits until the APIs are enabled and the enablement has propagated.
after_apis = pulumi.ResourceOptions(depends_on=[apis.propagated])
# Where (and under which name prefix) the regional components live.
where = dict(project=cfg.project, region=cfg.region)
named = dict(where, prefix=p)


def add(kind: type[T], name: str, args: object) -> T:
    """A component of the stack, created after the APIs."""
    return kind(name, args, after_apis)


network = add(Network, "network", NetworkArgs(**where, keep_network_on_destroy=cfg.teardown))
database = add(
    Database,
    "database",
    DatabaseArgs(
        **named,
        network=network,
        sql=cfg.sql,
        deletion_protection=cfg.deletion_protection,
        max_connections=cfg.sql_max_connections,
    ),
)
storage = add(
    Storage,
    "storage",
    StorageArgs(
        **where, bucket_name=f"{cfg.project}-{p}-lake", force_destroy=cfg.teardown, lake=cfg.lake
    ),
)
state = add(
    MageState,
    "state",
    MageStateArgs(
        **named,
        bucket_name=f"{cfg.project}-{p}-mage-state",
        force_destroy=cfg.teardown,
        log_retention_days=cfg.log_retention_days,
        variables_retention_days=cfg.variables_retention_days,
        project_volume=cfg.ui.persist_edits,
    ),
)
warehouse = add(
    Warehouse,
    "warehouse",
    WarehouseArgs(
        project=cfg.project,
        dataset_id=cfg.bigquery.dataset,
        location=cfg.dataset_location,
        deletion_protection=cfg.deletion_protection,
    ),
)
image = add(Image, "image", ImageArgs(**where, repository_id=p))
identity = add(
    Identity,
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
)
env = RuntimeEnv(
    **where,
    bucket_name=storage.bucket_name,
    dataset_id=warehouse.dataset_id,
    postgres_host=database.private_ip,
    taxi_user=database.taxi_user,
    taxi_database=database.taxi_database,
    taxi_password_secret=database.taxi_password.ref,
    mage_url_secret=database.mage_url.ref,
    taxi_data_base_url=cfg.taxi_data_base_url,
    state_bucket=state.bucket_name,
    secrets_key_secret=state.secrets_key.ref,
)
# Containers start only once every secret version they read, the databases and the users exist.
runtime_ready = [
    identity.propagated,  # the runtime account's grants, propagated (infra/components/apis.py)
    *identity.state_grants,
    database.mage_url.version,
    database.taxi_password.version,
    state.secrets_key.version,
    *database.ready,
]
# The UI service and the pipeline jobs run the same container: image, identity, env, network.
container = dict(
    **named,
    image=image.ref,
    service_account=identity.runtime.email,
    env=env,
    network=network.vpc.id,
    subnet=network.subnet.id,
    deletion_protection=cfg.deletion_protection,
    depends_on=runtime_ready,
    persist=cfg.ui.persist_edits,
)
service = add(
    MageService,
    "mage",
    MageServiceArgs(
        **container,
        runtime_member=identity.runtime_member,
        owner_email=cfg.owner_email,
        always_on=cfg.always_on,
        size=cfg.service,
        ui=cfg.ui,
        iap_oauth=cfg.iap_oauth,
    ),
)
# The scheduled runs and the backfill tasks: the same container, the jobs' size.
job = dict(container, size=cfg.job)
runs = add(
    ScheduledRuns,
    "runs",
    ScheduledRunsArgs(**job, scheduler_email=identity.scheduler.email, schedules=cfg.schedules),
)
backfill = add(Backfill, "backfill", BackfillArgs(**job, parallelism=cfg.backfill_parallelism))
monitoring = add(
    Monitoring,
    "monitoring",
    MonitoringArgs(project=cfg.project, prefix=p, alert_emails=cfg.alert_emails),
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
pulumi.export("backfill_job", backfill.job.name)
pulumi.export("pipeline_jobs", {pipeline: job.name for pipeline, job in runs.jobs.items()})
if cfg.github.repository:
    ci = add(
        CiIdentity,
        "ci",
        CiIdentityArgs(
            project=cfg.project,
            prefix=p,
            pool_id=cfg.wif_pool_id,
            github=cfg.github,
            state_bucket=cfg.state_bucket,
            runtime_account=identity.runtime.email,
            scheduler_account=identity.scheduler.email,
        ),
    )
    pulumi.export("deployer_service_account", ci.deployer.email)
    pulumi.export("preview_service_account", ci.preview.email)
    pulumi.export("workload_identity_provider", ci.provider.name)
