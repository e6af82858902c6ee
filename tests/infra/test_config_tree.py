"""Stack config as one typed tree (issue 18): each setting written once, as its field; the keys,
the docs' table, the errors and the policy pack's flag all read that field."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import annotated_types
import pytest
import yaml

from infra import config
from infra.components import (
    apis,
    backfill,
    ci_identity,
    database,
    mage_service,
    monitoring,
    network,
    scheduled_runs,
    storage,
    warehouse,
)
from infra.config import ConfigError, docs_table, parse, policy_flags
from infra.policy import policy_pack
from infra.policy import policy_rules as rules
from mage_project.utils.image_contract import REPO_ROOT as ROOT

DOCS = ROOT / "docs" / "configuration.md"
BASE = {"gcp:project": "my-mage-dev", "mage-gcp:projectInOrganization": "true"}
TABLE = re.compile(
    r"<!-- stack-config-table: generated from infra/config.py -->\n(.*?)\n"
    r"<!-- /stack-config-table -->",
    re.S,
)
PUBLIC_INVOKER = {"name": "mage", "role": "roles/run.invoker", "member": "allUsers"}


def test_the_docs_table_is_the_fields():
    found = TABLE.search(DOCS.read_text())
    assert found, "docs/configuration.md has no stack-config-table block"
    assert found[1] == docs_table(), (
        "docs/configuration.md's stack config table differs from infra/config.py: paste "
        '`.venv/bin/python -c "from infra.config import docs_table; print(docs_table())"`'
    )


def test_every_key_of_the_committed_stacks_is_in_the_table():
    table = docs_table()
    for stack in ("dev", "prod"):
        keys = (yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text()) or {})["config"]
        for key in keys:
            assert f"| `{key}` |" in table, key


@contextmanager
def _changed(model: type, field: str, **attrs) -> Iterator[None]:
    """Change one field of the tree (the one-line edit), rebuild the models, undo afterwards."""
    info = model.model_fields[field]
    before = {name: getattr(info, name) for name in attrs}
    try:
        for name, value in attrs.items():
            setattr(info, name, value)
        model.model_rebuild(force=True)
        config.StackConfig.model_rebuild(force=True)
        yield
    finally:
        for name, value in before.items():
            setattr(info, name, value)
        model.model_rebuild(force=True)
        config.StackConfig.model_rebuild(force=True)


def _pack_allows_public_invoker(tmp_path: Path, monkeypatch, stack_config: dict) -> bool:
    """Run the pack's no-public-members policy on a public UI invoker, the stack named as
    Pulumi names it for the pack (PULUMI_STACK), its config in Pulumi.<stack>.yaml."""
    (tmp_path / "Pulumi.trial.yaml").write_text(yaml.safe_dump({"config": stack_config}))
    monkeypatch.setattr(policy_pack, "REPO_ROOT", tmp_path)
    monkeypatch.setenv("PULUMI_STACK", "trial")
    policy_pack.stack_flags.cache_clear()
    try:
        policy = next(p for p in policy_pack.build_policies() if p.name == "no-public-members")
        from pulumi_policy import ResourceValidationArgs
        from pulumi_policy.policy import PolicyResourceOptions

        reported: list[str] = []
        args = ResourceValidationArgs(
            rules.UI_INVOKER,
            dict(PUBLIC_INVOKER),
            f"urn:pulumi:trial::mage-gcp::{rules.UI_INVOKER}::test",
            "test",
            PolicyResourceOptions(False, [], None, [], None, [], None),
            None,
            {},
        )
        policy.validate(args, lambda message, urn=None: reported.append(message))
        return reported == []
    finally:
        policy_pack.stack_flags.cache_clear()


def test_the_pack_reads_public_ui_from_the_stack_config(tmp_path, monkeypatch):
    assert not _pack_allows_public_invoker(tmp_path, monkeypatch, BASE)
    public = BASE | {"mage-gcp:uiAccess": "public"}
    assert _pack_allows_public_invoker(tmp_path, monkeypatch, public)
    # The pack's own config still decides when given.
    assert policy_flags(parse(public)) == {"allow_public_ui": True}


def test_one_default_changed_in_its_field_reaches_config_docs_and_pack(tmp_path, monkeypatch):
    """Changing uiAccess's default is one edit of ``Ui.access``: parsing, the docs' table and
    the policy pack's flag all follow (the committed stacks set uiAccess, so the trial omits it)."""
    assert parse(BASE).ui.access == "iap"
    with _changed(config.Ui, "access", default="public"):
        cfg = parse(BASE)
        assert cfg.ui.access == "public" and cfg.public_ui
        assert "| `mage-gcp:uiAccess` | `public` |" in docs_table()
        assert _pack_allows_public_invoker(tmp_path, monkeypatch, BASE)
    assert "| `mage-gcp:uiAccess` | `iap` |" in docs_table()
    assert not _pack_allows_public_invoker(tmp_path, monkeypatch, BASE)


def test_one_allowed_range_changed_in_its_field_reaches_validation_docs_and_errors():
    """Raising the disk limit is one edit of ``Sql.disk_gb``'s bound: the value passes, the
    table and the refusal sentence say the new bound."""
    with pytest.raises(ConfigError, match="an integer from 10 to 2000"):
        parse(BASE | {"mage-gcp:sqlDiskGb": "3000"})
    metadata = [annotated_types.Ge(10), annotated_types.Le(4000)]
    with _changed(config.Sql, "disk_gb", metadata=metadata):
        assert parse(BASE | {"mage-gcp:sqlDiskGb": "3000"}).sql.disk_gb == 3000
        assert "| `mage-gcp:sqlDiskGb` | `10` | an integer from 10 to 4000 |" in docs_table()
        with pytest.raises(ConfigError, match="use an integer from 10 to 4000"):
            parse(BASE | {"mage-gcp:sqlDiskGb": "5000"})
    with pytest.raises(ConfigError, match="an integer from 10 to 2000"):
        parse(BASE | {"mage-gcp:sqlDiskGb": "3000"})


ARGS = [
    apis.ApisArgs,
    backfill.BackfillArgs,
    ci_identity.CiIdentityArgs,
    database.DatabaseArgs,
    mage_service.MageServiceArgs,
    monitoring.MonitoringArgs,
    network.NetworkArgs,
    scheduled_runs.ScheduledRunsArgs,
    storage.StorageArgs,
    storage.MageStateArgs,
    warehouse.WarehouseArgs,
]


@pytest.mark.parametrize("args", ARGS, ids=lambda a: a.__name__)
def test_component_args_repeat_no_config_default(args: type):
    """What the config sets, a component takes without a default of its own (a second default
    drifts: DatabaseArgs once defaulted backup_count=7 with log_retention_days=7, a pair the
    config refuses); config groups are taken whole."""
    config_names = {k.path[-1] for k in config.KEYS.values()} | {
        name for name, f in config.StackConfig.model_fields.items()
    }
    config_names |= {
        "deletion_protection",
        "always_on",
        "persist",
        "with_iap",
        "keep_network_on_destroy",
        "force_destroy",
        "project_volume",
        "max_connections",
        "size",
    }
    defaulted = {
        f.name
        for f in dataclasses.fields(args)
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    }
    assert defaulted & config_names == set()
