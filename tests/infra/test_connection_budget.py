"""The Cloud SQL connection budget: every run (a backfill task, a scheduled job) and the UI hold
connections, the tier caps them. The stack sets max_connections to the tier's default or to what
its backfills need (at most twice the default); config refuses, in one sentence, a parallelism
beyond that. The per-process figures are measured against the twin's PostgreSQL."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest
from twin.samples import generate_sample_data
from twin.tasks import run_local_tasks

from infra.config import ConfigError, parse
from infra.policy import policy_rules as rules
from tests.infra.infra_plans import planned
from tests.pg_peak import peak_connections

BASE = {"gcp:project": "my-mage-dev", "mage-gcp:projectInOrganization": "true"}


@pytest.mark.parametrize(
    ("tier", "connections"),
    [
        ("db-f1-micro", 25),
        ("db-g1-small", 50),
        ("db-custom-1-3840", 100),
        ("db-custom-2-7680", 400),
    ],
)
def test_the_tiers_connections_are_cloud_sqls(tier, connections):
    assert rules.sql_max_connections(tier) == connections


def test_the_default_dev_stack_raises_max_connections_to_what_it_needs():
    cfg = parse(BASE)  # db-f1-micro, parallelism 4, one schedule
    need = rules.connections_needed(cfg.backfill_parallelism, len(cfg.schedules))
    assert need > rules.sql_max_connections("db-f1-micro")  # 25 would not hold it
    assert cfg.sql_max_connections == need
    flags = planned("dev").one("gcp:sql/databaseInstance:DatabaseInstance")
    flags = {f["name"]: f["value"] for f in flags.get("settings", "databaseFlags")}
    assert flags["max_connections"] == str(need)


def test_a_large_tier_keeps_cloud_sqls_default():
    cfg = parse({**BASE, "mage-gcp:sqlTier": "db-custom-1-3840"})
    assert cfg.sql_max_connections == 100


def test_a_parallelism_the_tier_cannot_hold_is_one_sentence():
    with pytest.raises(ConfigError) as refused:
        parse({**BASE, "mage-gcp:backfillParallelism": 20})
    message = str(refused.value)
    assert message.count(". ") == 0 and message.endswith(".")
    assert "backfillParallelism 20" in message and "db-f1-micro" in message
    assert "use backfillParallelism 10 or less" in message
    fits = parse({**BASE, "mage-gcp:backfillParallelism": 10})  # the largest it names
    assert fits.sql_max_connections <= rules.SQL_MAX_CONNECTIONS_RAISE * 25
    parse({**BASE, "mage-gcp:backfillParallelism": 20, "mage-gcp:sqlTier": "db-custom-1-3840"})


@pytest.mark.twin
def test_a_backfill_task_holds_no_more_connections_than_budgeted(twin, twin_env, tmp_path):
    """Four api_to_postgres tasks at once (a Postgres sink: the heaviest) on the twin, sampling
    pg_stat_activity: the peak stays within 4 x CONNECTIONS_PER_RUN."""
    months = [date(2021, m, 1) for m in (1, 2, 3, 4)]
    generate_sample_data(twin.data_dir, months=[("yellow", d.year, d.month) for d in months])
    env = twin.env
    dsn = (
        f"host=127.0.0.1 port={env['PGPORT']} user={env['PGUSER']} "
        f"password={env['PGPASSWORD']} dbname=postgres"
    )
    with peak_connections(lambda: psycopg.connect(dsn, autocommit=True)) as peak:
        results = run_local_tasks("api_to_postgres", months, twin_env, 4, tmp_path / "logs")
    assert all(r.ok for r in results), [r.log.read_text()[-1500:] for r in results]
    assert 0 < peak.value <= 4 * rules.CONNECTIONS_PER_RUN, peak.value
