"""IAP in a project without an organization: the stack's custom OAuth client (issue 16)."""

from __future__ import annotations

import pulumi
import pytest
from pulumi.runtime import mocks as pulumi_mocks

from infra.components.secrets import read_secret
from infra.config import ConfigError, parse
from infra.policy import policy_rules as rules
from tests.infra.infra_plans import planned

CLIENT_ID = "123456789012-abc123def456.apps.googleusercontent.com"
SECRET_ID = "mage-iap-oauth-client-secret"
NO_ORG = (
    ("mage-gcp:projectInOrganization", "false"),
    ("mage-gcp:iapOauthClientId", CLIENT_ID),
    ("mage-gcp:iapOauthClientSecretId", SECRET_ID),
)
SETTINGS = "gcp:iap/settings:Settings"
BASE = {"gcp:project": "my-mage-dev", "mage-gcp:projectInOrganization": "false"}


def test_no_org_iap_plans_the_custom_client_on_the_ui_service():
    plan = planned("dev", NO_ORG)
    service = plan.one("gcp:cloudrunv2/service:Service")
    assert service.inputs["iapEnabled"] is True
    settings = plan.one(SETTINGS)
    assert settings.inputs["name"] == (
        "projects/my-mage-dev/iap_web/cloud_run-us-central1/services/mage-ui"
    )
    assert settings.inputs["accessSettings"]["oauthSettings"]["clientId"] == CLIENT_ID
    assert settings.parent.endswith("mage-gcp:mage_service:MageService::mage")
    # Members pass IAP (IAP-secured Web App User); only IAP's agent invokes the service.
    iap_users = plan.of_type("gcp:iap/webCloudRunServiceIamMember:WebCloudRunServiceIamMember")
    assert [r.inputs["member"] for r in iap_users] == ["user:you@example.com"]
    invokers = plan.of_type("gcp:cloudrunv2/serviceIamMember:ServiceIamMember")
    assert [r.inputs["member"] for r in invokers] == [
        "serviceAccount:service-123456789012@gcp-sa-iap.iam.gserviceaccount.com"
    ]
    assert "iap.googleapis.com" in {
        r.inputs["service"] for r in plan.of_type("gcp:projects/service:Service")
    }
    assert rules.plan_violations(plan.resources) == {}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_managed_client_stacks_plan_no_iap_settings(stack: str):
    assert planned(stack).of_type(SETTINGS) == []


def test_the_config_holds_the_secret_id_only():
    cfg = parse(BASE | {k: v for k, v in NO_ORG[1:]})
    assert (cfg.iap, cfg.iap_custom_oauth, cfg.public_ui) == (True, True, False)
    assert cfg.iap_oauth.client_secret_id == SECRET_ID
    with pytest.raises(ConfigError, match="iapOauthClientSecretId"):
        parse(BASE | {"mage-gcp:iapOauthClientSecretId": "GOCSPX-not an id!"})


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"mage-gcp:iapOauthClientId": CLIENT_ID},
         "Stack config mage-gcp:iapOauthClientSecretId is missing while the other "
         "iapOauthClient key is set;"),
        ({"mage-gcp:iapOauthClientSecretId": SECRET_ID},
         "Stack config mage-gcp:iapOauthClientId is missing while the other"),
        ({"mage-gcp:iapOauthClientId": CLIENT_ID, "mage-gcp:iapOauthClientSecretId": SECRET_ID,
          "mage-gcp:uiAccess": "authenticated"},
         "iapOauthClientId is set while uiAccess is authenticated"),
        ({}, "set iapOauthClientId and iapOauthClientSecretId to a custom OAuth client"),
    ],
)  # fmt: skip
def test_an_incomplete_custom_client_is_refused_in_one_sentence(extra: dict, says: str):
    with pytest.raises(ConfigError) as refused:
        parse(BASE | extra)
    message = str(refused.value)
    assert says in message
    assert message.count(". ") == 0 and message.endswith(".")


class _SecretMocks(pulumi_mocks.Mocks):
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict, list]:
        self.calls.append((args.token, dict(args.args)))
        return {"secretData": "the-client-secret", "version": "3"}, []


def test_the_client_secret_is_read_from_secret_manager_and_stays_secret():
    mocks = _SecretMocks()
    pulumi.runtime.set_mocks(mocks, project="mage-gcp", stack="iap", preview=False)

    @pulumi.runtime.test
    def check():
        parent = pulumi.ComponentResource("test:index:Parent", "parent")
        value = read_secret("my-mage-dev", SECRET_ID, parent)

        def seen(pair: list) -> None:
            plain, secret = pair
            assert plain == "the-client-secret"
            assert secret is True
            assert mocks.calls == [
                (
                    "gcp:secretmanager/getSecretVersion:getSecretVersion",
                    {"project": "my-mage-dev", "secret": SECRET_ID},
                )
            ]

        return pulumi.Output.all(value, pulumi.Output.from_input(value.is_secret())).apply(seen)

    check()
