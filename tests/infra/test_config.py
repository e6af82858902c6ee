"""Stack config: defaults, the committed examples, and one clear sentence per bad value."""

from __future__ import annotations

import json

import pytest
from tools.offline import stack_config

from infra.config import KEYS, ConfigError, StackConfig, parse
from tests.infra.infra_plans import planned

BASE = {"gcp:project": "my-mage-dev", "mage-gcp:projectInOrganization": "true"}


def test_defaults_are_cheap_and_private():
    cfg = parse(BASE)
    assert cfg == StackConfig(project="my-mage-dev", project_in_organization=True)
    assert (cfg.mode, cfg.sql.tier, cfg.ui.access) == ("cost", "db-f1-micro", "iap")
    assert cfg.deletion_protection is True
    assert [(s.pipeline, s.cron, s.time_zone) for s in cfg.schedules] == [
        ("green_taxi_etl", "0 5 * * *", "Etc/UTC")
    ]
    assert cfg.dataset_location == "us-central1"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_committed_stacks_parse(stack: str):
    cfg = parse(stack_config(stack))
    assert cfg.project == f"my-mage-{stack}"
    assert cfg.always_on is (stack == "prod")


def test_strings_as_the_cli_passes_them():
    cfg = parse(BASE | {
        "mage-gcp:deletionProtection": "false",
        "mage-gcp:sqlDiskGb": "25",
        "mage-gcp:uiMembers": json.dumps(["group:data@example.com"]),
        "mage-gcp:schedules": json.dumps([{"pipeline": "api_to_postgres", "cron": "*/30 * * * *",
                                           "variables": {"month": 1}}]),
    })  # fmt: skip
    assert cfg.deletion_protection is False and cfg.sql.disk_gb == 25
    assert cfg.ui.members == ["group:data@example.com"]
    assert cfg.schedules[0].variables == {"month": 1}


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("mage-gcp:sqlTier", "db-n1-standard-64", "db-f1-micro, db-g1-small or db-custom"),
        ("mage-gcp:mode", "turbo", "'cost' (scale to zero) or 'always-on'"),
        ("mage-gcp:sqlDiskGb", "5", "an integer from 10 to 2000"),
        ("mage-gcp:sqlSslMode", "ALLOW_UNENCRYPTED_AND_ENCRYPTED", "ENCRYPTED_ONLY or"),
        ("mage-gcp:uiMembers", json.dumps(["allUsers"]), "a list of IAM members"),
        ("mage-gcp:uiAccess", "everyone", "iap, authenticated or public"),
        ("mage-gcp:githubRepository", "not a repo", "owner/name"),
        ("mage-gcp:alertEmails", json.dumps(["nobody"]), "e-mail addresses"),
        ("mage-gcp:serviceCpu", "3", "1, 2, 4, 6, 8"),
        ("mage-gcp:githubRepositoryId", "abc", "numeric id"),
        ("mage-gcp:deletionProtection", "maybe", "true or false"),
        ("gcp:region", "mars", "a GCP region"),
        ("gcp:project", "UPPER", "a GCP project id"),
    ],
)
def test_bad_value_is_one_sentence_naming_key_and_allowed(key: str, value: str, allowed: str):
    with pytest.raises(ConfigError) as err:
        parse(BASE | {key: value})
    message = str(err.value)
    assert message.startswith(f"Stack config {key} = ")
    assert allowed in message and f"pulumi config set {key}" in message
    assert message.count(". ") == 0 and message.endswith(".") and "\n" not in message


def test_unknown_key_and_missing_project():
    with pytest.raises(ConfigError, match=r"^Unknown stack config key mage-gcp:sqltier: the known"):
        parse(BASE | {"mage-gcp:sqltier": "db-f1-micro"})
    with pytest.raises(ConfigError, match=r"^Stack config gcp:project is missing"):
        parse({"mage-gcp:mode": "cost"})


def test_malformed_structure_is_one_sentence():
    with pytest.raises(ConfigError, match=r"^Stack config mage-gcp:uiMembers is not valid JSON"):
        parse(BASE | {"mage-gcp:uiMembers": "[user:x"})


def test_every_key_maps_to_a_field():
    """Each leaf of the tree is one key; each top-level field is a key or a group of keys."""
    assert len({k.path for k in KEYS.values()}) == len(KEYS)
    assert {k.path[0] for k in KEYS.values()} == set(StackConfig.model_fields)
    assert KEYS["mage-gcp:sqlDiskGb"].path == ("sql", "disk_gb")
    assert KEYS["mage-gcp:iapOauthClientId"].path == ("iap_oauth", "client_id")


def test_program_refuses_a_bad_config_with_the_same_sentence():
    with pytest.raises(ConfigError, match=r"^Stack config mage-gcp:sqlTier = 'db-huge'"):
        planned("dev", (("mage-gcp:sqlTier", "db-huge"),))


def test_unknown_stack_file():
    with pytest.raises(FileNotFoundError, match=r"Pulumi.staging.yaml not found: use one of"):
        stack_config("staging")


def test_a_pipeline_scheduled_twice_is_one_sentence():
    from infra.config import ConfigError, parse

    twice = [{"pipeline": "api_to_gcs"}, {"pipeline": "api_to_gcs"}]
    with pytest.raises(
        ConfigError, match=r"^Stack config mage-gcp:schedules lists a pipeline twice"
    ):
        parse({"gcp:project": "my-proj-123", "mage-gcp:schedules": twice})


def _refused(extra: dict) -> str:
    with pytest.raises(ConfigError) as err:
        parse(BASE | extra)
    message = str(err.value)
    assert message.startswith("Stack config mage-gcp:") and message.endswith(".")
    assert "\n" not in message and message.count(". ") == 0, message
    return message


def _schedule(**fields) -> dict:
    return {"mage-gcp:schedules": json.dumps([{"pipeline": "green_taxi_etl", **fields}])}


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        # Cloud Run's vCPU/memory table
        ({"mage-gcp:serviceCpu": "1", "mage-gcp:serviceMemory": "8Gi"}, "serviceCpu 1 with"),
        ({"mage-gcp:jobCpu": "4", "mage-gcp:jobMemory": "1Gi"}, "jobCpu 4 with jobMemory 1Gi"),
        # Workload Identity pool ids may not start with gcp-
        ({"mage-gcp:namePrefix": "gcp", "mage-gcp:githubRepository": "o/r",
          "mage-gcp:githubRepositoryId": "42"}, "the prefix gcp-"),
        ({"mage-gcp:githubRepository": "o/r"}, "githubRepositoryId is missing"),
        # Cloud SQL: backup retention should be > transaction log retention
        ({"mage-gcp:sqlBackupCount": "7", "mage-gcp:sqlLogRetentionDays": "7"},
         "sqlBackupCount 7 is not above sqlLogRetentionDays 7"),
        # schedules: the pipeline exists, cron is unix-cron, the zone is a tz name
        (_schedule(pipeline="no_such_pipeline"), "no_such_pipeline, which is not in"),
        (_schedule(cron="daily"), "the cron 'daily', which is not valid"),
        (_schedule(cron="61 5 * * *"), "the cron '61 5 * * *'"),
        (_schedule(cron="0 5 * * FUNDAY"), "FUNDAY"),
        (_schedule(timeZone="Mars/Olympus"), "the time zone 'Mars/Olympus'"),
        # Cloud SQL custom machine types
        ({"mage-gcp:sqlTier": "db-custom-3-7680"}, "sqlTier db-custom-3-7680 is not"),
        ({"mage-gcp:sqlTier": "db-custom-1-1024"}, "sqlTier db-custom-1-1024 is not"),
        ({"mage-gcp:sqlTier": "db-custom-2-7000"}, "sqlTier db-custom-2-7000 is not"),
        # IAP needs an organization
        ({"mage-gcp:projectInOrganization": "false"}, "uiAccess iap cannot admit anyone"),
    ],
)  # fmt: skip
def test_config_gcp_rejects_is_refused_in_one_sentence(extra: dict, says: str):
    assert says in _refused(extra)


def test_iap_needs_the_organization_question_answered():
    with pytest.raises(
        ConfigError, match=r"^Stack config mage-gcp:projectInOrganization is not set"
    ):
        parse({"gcp:project": "my-mage-dev"})
    no_org = {"gcp:project": "my-mage-dev", "mage-gcp:projectInOrganization": "false"}
    assert parse(no_org | {"mage-gcp:uiAccess": "authenticated"}).ui.access == "authenticated"


@pytest.mark.parametrize("cron", ["0 5 * * MON-FRI", "30 6 1 JAN,JUL *", "*/15 8-18 * * 1-5"])
def test_cron_names_are_valid(cron: str):
    cfg = parse(BASE | _schedule(cron=cron, timeZone="Europe/Berlin"))
    assert cfg.schedules[0].cron == cron


@pytest.mark.parametrize("region", ["europe-west10", "europe-west12", "us-central1"])
def test_two_digit_regions_are_accepted(region: str):
    assert parse(BASE | {"gcp:region": region}).region == region


@pytest.mark.parametrize("tier", ["db-custom-1-3840", "db-custom-2-7680", "db-custom-4-26624"])
def test_documented_custom_tiers_are_accepted(tier: str):
    assert parse(BASE | {"mage-gcp:sqlTier": tier}).sql.tier == tier
