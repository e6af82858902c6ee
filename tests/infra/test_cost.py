"""Cost model (tools/cost_model.py) and `make cost` (python -m tools.cost): figures from the
planned resources."""

from __future__ import annotations

import copy
import json
import re
import subprocess

import pytest
from tools import cost_model as cost
from tools.offline import Plan

from infra.config import parse
from mage_project.utils.image_contract import REPO_ROOT as ROOT
from tests.infra.infra_plans import planned, tool_cli

IDLE_LIMIT_DEV = 15.0  # the brief: the default dev config idles at or under $15/month


def plan_estimate(plan: Plan) -> cost.Estimate:
    return cost.estimate(plan.resources, cost.assumptions_for(parse(plan.config)))


def cost_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return tool_cli("cost", *args)


def dollars(pattern: str, text: str) -> float:
    found = re.findall(pattern, text)
    assert len(found) == 1, (pattern, found)
    return float(found[0].replace(",", ""))


@pytest.fixture(scope="module")
def dev_cli() -> str:
    result = cost_cli("--stack", "dev")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_cost_dev_figure_is_the_model_figure_and_under_15(dev_plan: Plan, dev_cli: str):
    printed = dollars(r"Idle monthly cost \(stack dev\): \$([\d,.]+)", dev_cli)
    expected = plan_estimate(dev_plan)
    assert printed == expected.idle_total
    assert "estimated_idle_monthly_usd" not in dev_plan.outputs  # `pulumi up` prices nothing
    assert printed <= IDLE_LIMIT_DEV
    runs = dollars(r"Scheduled runs per month \(stack dev\): \$([\d,.]+)", dev_cli)
    assert runs == expected.runs_monthly_total


def test_make_cost_shows_the_arithmetic_line_by_line(dev_plan: Plan, dev_cli: str):
    rows = [line.split("│") for line in dev_cli.splitlines() if line.startswith("│")]
    for item in plan_estimate(dev_plan).idle:
        matching = [r for r in rows if r[1].strip() == item.resource and r[2].strip() == item.what]
        assert len(matching) == 1, item
        quantity, unit_price, amount = (c.strip() for c in matching[0][3:6])
        assert quantity.endswith(item.unit) and unit_price.endswith(f"/ {item.unit}")
        assert float(unit_price.lstrip("$").split(" ")[0]) == item.unit_price
        assert amount == f"${item.amount:,.2f}"
    assert "730 h = 730 instance-hour" in dev_cli  # Cloud SQL db-f1-micro, always running
    assert "× 30.42 runs/month (cron 0 5 * * *)" in dev_cli


def test_make_cost_compares_with_the_official_template(dev_plan: Plan, dev_cli: str):
    official = cost.estimate(cost.official_template_plan()).idle_total
    shown = dollars(
        r"mage-ai-terraform-templates/gcp \(same price table\) +│ +\$([\d,.]+)", dev_cli
    )
    assert shown == official
    ours = plan_estimate(dev_plan).idle_total
    assert dollars(r"│ difference +│ +\$([\d,.]+)", dev_cli) == pytest.approx(official - ours)
    assert "│ filestore " in dev_cli and "1024 GiB = 1,024 GiB-month" in dev_cli


def test_make_cost_prod_and_bad_stack():
    prod = cost_cli("--stack", "prod", "--no-compare")
    assert prod.returncode == 0, prod.stderr
    expected = plan_estimate(planned("prod")).idle_total
    assert dollars(r"Idle monthly cost \(stack prod\): \$([\d,.]+)", prod.stdout) == expected
    assert "official" not in prod.stdout
    bad = cost_cli("--stack", "qa")
    assert bad.returncode == 2 and bad.stdout == ""
    assert (
        bad.stderr.strip()
        == "Pulumi.qa.yaml not found: use one of the committed stacks (dev, prod)."
    )


# Every billable knob moves the price of the planned resources; `pulumi up` prices nothing.
@pytest.mark.parametrize(
    ("stack", "overrides"),
    [
        ("dev", ()),
        ("prod", ()),
        ("dev", (("mage-gcp:mode", "always-on"), ("mage-gcp:serviceMemory", "4Gi"))),
        ("dev", (("mage-gcp:sqlTier", "db-g1-small"), ("mage-gcp:sqlDiskType", "PD_HDD"))),
        (
            "dev",
            (("mage-gcp:sqlTier", "db-custom-2-7680"), ("mage-gcp:sqlAvailability", "REGIONAL")),
        ),
        ("dev", (("mage-gcp:lakeExpectedGb", "250"), ("mage-gcp:expectedRunMinutes", "45"))),
        (
            "dev",
            (
                (
                    "mage-gcp:schedules",
                    json.dumps(
                        [
                            {"pipeline": "green_taxi_etl", "cron": "0 5 * * *"},
                            {"pipeline": "api_to_postgres", "cron": "*/30 * * * 1-5"},
                        ]
                    ),
                ),
                ("mage-gcp:jobCpu", "2"),
            ),
        ),
    ],
)
def test_each_billable_knob_prices_the_plan_and_the_program_prices_nothing(
    stack: str, overrides: tuple
):
    plan = planned(stack, overrides)
    base = plan_estimate(planned(stack))
    from_plan = plan_estimate(plan)
    assert not [k for k in plan.outputs if "cost" in k or "usd" in k]
    assert from_plan.idle_total > 0
    if overrides:
        assert (from_plan.idle_total, from_plan.runs_monthly_total) != (
            base.idle_total,
            base.runs_monthly_total,
        )


def test_the_program_imports_no_cost_model():
    program = (ROOT / "infra").rglob("*.py")
    assert not [p for p in program if "cost_model" in p.read_text() or "prices" in p.read_text()]


def test_scale_to_zero_ui_costs_nothing_idle_and_always_on_does(dev_plan: Plan, prod_plan: Plan):
    assert not [i for i in plan_estimate(dev_plan).idle if i.resource == "mage-ui"]
    always_on = [i for i in plan_estimate(prod_plan).idle if i.resource == "mage-ui"]
    assert [i.unit for i in always_on] == ["vCPU-second", "GiB-second"]
    assert (
        always_on[0].unit_price
        == cost.load_prices()["prices"]["cloud_run_vcpu_second_instance"]["price"]
    )


def test_official_template_model():
    items = {i.what: i for i in cost.estimate(cost.official_template_plan()).idle}
    assert items["Filestore BASIC_HDD"].quantity == 1024
    assert items["Cloud Run min instance vCPU (CPU always allocated)"].quantity == 2 * 730 * 3600
    assert "Load balancer forwarding rule" in items
    assert cost.estimate(cost.official_template_plan()).idle_total > 250


@pytest.mark.parametrize(
    ("cron", "runs"),
    [
        ("0 5 * * *", 30.42),
        ("*/30 * * * *", 48 * 30.42),
        ("0 5 * * 1-5", 30.42 * 5 / 7),
        ("0 5 1 * *", 1),
        ("0 5 1 1 *", 1 / 12),
        ("15,45 6-8 * * *", 6 * 30.42),
        ("0 5 * * MON-FRI", 30.42 * 5 / 7),  # Cloud Scheduler accepts day and month names
        ("0 5 * JAN,JUL SUN", 30.42 / 7 * 2 / 12),
        ("0 5 * * 0,7", 30.42 / 7),  # 0 and 7 are both Sunday
        # Names are valid cron (the old estimate crashed on them with ValueError).
        ("0 5 1 JAN,JUL *", 2 / 12),
        ("0 5 * * SUN", 30.42 / 7),
    ],
)
def test_runs_per_month(cron: str, runs: float):
    assert cost.runs_per_month(cron) == pytest.approx(runs)


def test_totals_round_half_up_and_do_not_depend_on_resource_order(prod_plan: Plan):
    assert cost.cents(224.355) == 224.36 and cost.cents(0.125) == 0.13
    forward = plan_estimate(prod_plan)
    backward = cost.estimate(
        list(reversed(prod_plan.resources)), cost.assumptions_for(parse(prod_plan.config))
    )
    assert forward.idle_total == backward.idle_total


def test_memory_quantities():
    assert cost._gib("2Gi") == 2 and cost._gib("512Mi") == 0.5
    assert cost._gib("2G") == pytest.approx(2e9 / 2**30)
    with pytest.raises(ValueError, match="not like 2Gi"):
        cost._gib("lots")


def test_missing_price_is_one_clear_sentence(dev_plan: Plan):
    prices = copy.deepcopy(cost.load_prices())
    del prices["prices"]["cloud_sql_db_f1_micro_hour"]
    with pytest.raises(cost.PriceTableError, match=r"no usable price 'cloud_sql_db_f1_micro_hour'"):
        cost.estimate(dev_plan.resources, prices=prices)
