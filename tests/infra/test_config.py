"""Stack config: defaults, the committed examples, and one clear sentence per bad value."""

from __future__ import annotations

import json

import pytest
from infra_plans import planned
from tools.offline import stack_config

from infra.config import KEYS, ConfigError, StackConfig, parse

BASE = {"gcp:project": "my-mage-dev"}


def test_defaults_are_cheap_and_private():
    cfg = parse(BASE)
    assert cfg == StackConfig(project="my-mage-dev")
    assert (cfg.mode, cfg.sql_tier, cfg.ui_access) == ("cost", "db-f1-micro", "iap")
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
    assert cfg.deletion_protection is False and cfg.sql_disk_gb == 25
    assert cfg.ui_members == ["group:data@example.com"]
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
        ("mage-gcp:schedules", json.dumps([{"pipeline": "x", "cron": "daily"}]), "cron"),
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
    assert {field for field, _ in KEYS.values()} == set(StackConfig.model_fields)


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
