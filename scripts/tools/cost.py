"""`make cost`: the monthly idle cost and the per-run cost of a stack, with the arithmetic shown.

Runs infra/ offline under Pulumi mocks (like `make plan`), prices the planned resources with the
dated list prices in scripts/tools/prices.yaml (tools/cost_model.py), and compares the result with Mage's
official GCP Terraform template priced the same way. No cloud access.
"""

from __future__ import annotations

import argparse
import sys

from rich.table import Table

from infra.config import parse
from tools.cost_model import (
    Estimate,
    LineItem,
    assumptions_for,
    estimate,
    load_prices,
    official_template_plan,
)
from tools.offline import Plan
from tools.plan import make_console, plan_from_cli

EXCLUDED = (
    "Not included: Cloud Run request/CPU time while someone uses the UI, network egress, "
    "logging and monitoring beyond the free allotments, free tiers (all prices are list prices "
    "without free tier), and the Pulumi state bucket and KMS key made by scripts/bootstrap."
)


def money(amount: float, places: int = 2) -> str:
    return f"${amount:,.{places}f}"


def number(value: float) -> str:
    """Thousands separated, no exponent: 5,256,000 / 1,024 / 3.75 / 0.5."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.6g}"


def _unit_price(item: LineItem) -> str:
    return f"{money(item.unit_price, 8).rstrip('0').rstrip('.')} / {item.unit}"


def items_table(title: str, items: list[LineItem], total: float) -> Table:
    """One line per priced item: quantity (with how it was reached) × unit price = amount."""
    table = Table(title=title, show_footer=True)
    table.add_column("resource", style="cyan", footer="total")
    table.add_column("item")
    table.add_column("quantity", justify="right")
    table.add_column("× unit price", justify="right")
    table.add_column("= USD/month", justify="right", footer=money(total))
    for item in sorted(items, key=lambda i: i.resource):
        quantity = f"{number(item.quantity)} {item.unit}"
        if item.arithmetic and item.arithmetic != f"{item.quantity:g}":
            quantity = f"{item.arithmetic} = {quantity}"
        table.add_row(item.resource, item.what, quantity, _unit_price(item), money(item.amount))
    return table


def runs_table(result: Estimate) -> Table:
    table = Table(title="Per pipeline run (Cloud Run job, billed only while it runs)")
    table.add_column("pipeline", style="cyan")
    table.add_column("item")
    table.add_column("quantity", justify="right")
    table.add_column("× unit price", justify="right")
    table.add_column("= USD", justify="right")
    for run in sorted(result.runs, key=lambda r: r.pipeline):  # registration order varies
        for item in run.items:
            table.add_row(
                run.pipeline,
                item.what,
                f"{item.arithmetic} = {number(item.quantity)} {item.unit}",
                _unit_price(item),
                money(item.amount, 4),
            )
        schedule = (
            f"{money(run.per_run, 4)} × {run.runs_per_month:g} runs/month (cron {run.cron})"
            if run.cron
            else "not scheduled"
        )
        table.add_row(
            run.pipeline, "[bold]per run → per month[/]", schedule, "", money(run.monthly)
        )
        table.add_section()
    return table


def comparison_table(stack: str, ours: Estimate, official: Estimate) -> Table:
    table = Table(title="Idle cost compared with Mage's official GCP Terraform template")
    table.add_column("stack")
    table.add_column("USD/month idle", justify="right")
    table.add_row(f"mage-gcp, stack {stack}", money(ours.idle_total))
    table.add_row("mage-ai-terraform-templates/gcp (same price table)", money(official.idle_total))
    table.add_row("difference", money(official.idle_total - ours.idle_total))
    return table


def resource_summary(plan: Plan, ours: Estimate) -> str:
    """The same resource count as `make plan` (components are groupings, not resources)."""
    resources = sum(r.custom for r in plan.resources)
    billed = len({item.resource for item in ours.idle})
    return (
        f"{resources} planned resources of stack {plan.stack} (as `make plan` counts them, "
        f"not its {len(plan.resources) - resources} components), {billed} of them billed when idle"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--no-compare", action="store_true", help="skip the official-template comparison"
    )
    args, plan = plan_from_cli(parser, argv)
    if plan is None:
        return 2
    prices = load_prices()
    cfg = parse(plan.config)
    ours = estimate(plan.resources, assumptions_for(cfg, prices), prices)
    console = make_console()
    console.print(
        f"List prices as of {prices['as_of']} ({prices['currency']}, {prices['region']}, "
        f"{prices['hours_per_month']} h/month) from scripts/tools/prices.yaml; "
        f"{resource_summary(plan, ours)}, priced offline."
    )
    console.print(
        items_table(f"Idle monthly cost — stack {plan.stack}", ours.idle, ours.idle_total)
    )
    console.print(runs_table(ours))
    console.print(EXCLUDED, style="dim")
    if not args.no_compare:
        official = estimate(official_template_plan(), prices=prices)
        console.print(
            items_table(
                "Mage's official GCP Terraform template (mage-ai-terraform-templates/gcp), idle, "
                "as modelled in tools/cost_model.py",
                official.idle,
                official.idle_total,
            )
        )
        console.print(comparison_table(plan.stack, ours, official))
    console.print(f"Idle monthly cost (stack {plan.stack}): {money(ours.idle_total)}")
    console.print(
        f"Scheduled runs per month (stack {plan.stack}): {money(ours.runs_monthly_total)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
