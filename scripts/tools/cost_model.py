"""Monthly idle and per-run cost of a planned stack, from the dated list prices in prices.yaml.

Works on planned resources (type + inputs, as tools.offline records them from the program run
under mocks), so `make cost` prices exactly what `make plan` shows: the one model of the stack.
`pulumi up` prices nothing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from croniter import croniter

from tools.offline import PlannedResource

PRICES_PATH = Path(__file__).with_name("prices.yaml")
SECONDS_PER_HOUR = 3600
DAYS_PER_MONTH = 30.42

SQL = "gcp:sql/databaseInstance:DatabaseInstance"
RUN_SERVICE = "gcp:cloudrunv2/service:Service"
RUN_JOB = "gcp:cloudrunv2/job:Job"
SCHEDULER_JOB = "gcp:cloudscheduler/job:Job"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
#: The hosted Mage's state bucket (infra/components/storage.py MageState, logical name).
STATE_BUCKET = "state-bucket"
ALERT_POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
REGISTRY = "gcp:artifactregistry/repository:Repository"
BUCKET = "gcp:storage/bucket:Bucket"
DATASET = "gcp:bigquery/dataset:Dataset"
FILESTORE = "gcp:filestore/instance:Instance"
FORWARDING_RULE = "gcp:compute/globalForwardingRule:GlobalForwardingRule"
ARMOR = "gcp:compute/securityPolicy:SecurityPolicy"
CONNECTOR = "gcp:vpcaccess/connector:Connector"


def cents(amount: float) -> float:
    """Round to cents half-up (sums are order-independent via math.fsum, so this is stable)."""
    return float(Decimal(repr(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


class PriceTableError(ValueError):
    """prices.yaml lacks a price the stack needs."""


@dataclass(frozen=True)
class LineItem:
    """quantity × unit_price = monthly (or per-run) dollars, with the quantity's arithmetic."""

    resource: str
    what: str
    quantity: float
    unit: str
    unit_price: float
    arithmetic: str = ""

    @property
    def amount(self) -> float:
        return self.quantity * self.unit_price


@dataclass
class RunCost:
    pipeline: str
    items: list[LineItem]
    runs_per_month: float
    cron: str | None = None

    @property
    def per_run(self) -> float:
        return math.fsum(i.amount for i in self.items)

    @property
    def monthly(self) -> float:
        return self.per_run * self.runs_per_month


@dataclass
class Estimate:
    as_of: str
    idle: list[LineItem]
    runs: list[RunCost] = field(default_factory=list)

    @property
    def idle_total(self) -> float:
        return cents(math.fsum(i.amount for i in self.idle))

    @property
    def runs_monthly_total(self) -> float:
        return cents(math.fsum(r.monthly for r in self.runs))


@dataclass(frozen=True)
class Assumptions:
    lake_gb: float = 1.0
    warehouse_gb: float = 1.0
    image_gb: float = 3.0
    run_minutes: float = 10.0
    state_gb: float = 0.5


@cache
def load_prices(path: Path = PRICES_PATH) -> dict[str, Any]:
    if not path.is_file():
        raise PriceTableError(
            f"Price table {path} not found: restore scripts/tools/prices.yaml from git."
        )
    return yaml.safe_load(path.read_text())


def _price(prices: dict[str, Any], key: str) -> tuple[float, str]:
    try:
        entry = prices["prices"][key]
        return float(entry["price"]), entry["unit"]
    except (KeyError, TypeError, ValueError):
        raise PriceTableError(
            f"scripts/tools/prices.yaml has no usable price '{key}': add it with price, unit and source."
        ) from None


def _gib(memory: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Gi|Mi|G|M)", memory)
    if not match:
        raise ValueError(f"memory limit {memory!r} is not like 2Gi or 512Mi")
    number, unit = float(match[1]), match[2]
    # Kubernetes quantities, as Cloud Run reads them: Gi/Mi are binary, G/M decimal.
    factor = {"Gi": 1.0, "Mi": 1 / 1024, "G": 1e9 / 2**30, "M": 1e6 / 2**30}[unit]
    return number * factor


def _cpu(cpu: str) -> float:
    return float(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)


def _sql_items(r: PlannedResource, prices: dict, hours: float) -> list[LineItem]:
    tier = r.get("settings", "tier")
    ha = r.get("settings", "availabilityType") == "REGIONAL"
    factor = 2 if ha else 1
    ha_note = " × 2 (REGIONAL)" if ha else ""
    items = []
    custom = re.fullmatch(r"db-custom-(\d+)-(\d+)", tier or "")
    if custom:
        vcpus, gb = int(custom[1]), int(custom[2]) / 1024
        p_cpu, _ = _price(prices, "cloud_sql_vcpu_hour")
        p_mem, _ = _price(prices, "cloud_sql_memory_gb_hour")
        items.append(
            LineItem(
                r.name,
                f"Cloud SQL {tier} vCPU",
                vcpus * hours * factor,
                "vCPU-hour",
                p_cpu,
                f"{vcpus} vCPU × {hours:g} h{ha_note}",
            )
        )
        items.append(
            LineItem(
                r.name,
                f"Cloud SQL {tier} memory",
                gb * hours * factor,
                "GB-hour",
                p_mem,
                f"{gb:g} GB × {hours:g} h{ha_note}",
            )
        )
    else:
        key = f"cloud_sql_{(tier or '').replace('-', '_')}_hour"
        price, unit = _price(prices, key)
        items.append(
            LineItem(
                r.name, f"Cloud SQL {tier}", hours * factor, unit, price, f"{hours:g} h{ha_note}"
            )
        )
    disk = float(r.get("settings", "diskSize", default=10))
    kind = "ssd" if r.get("settings", "diskType", default="PD_SSD") == "PD_SSD" else "hdd"
    price, unit = _price(prices, f"cloud_sql_{kind}_gb_month")
    items.append(
        LineItem(
            r.name,
            f"Cloud SQL {kind.upper()} storage",
            disk * factor,
            unit,
            price,
            f"{disk:g} GB{ha_note}",
        )
    )
    if r.get("settings", "backupConfiguration", "enabled"):
        price, unit = _price(prices, "cloud_sql_backup_gb_month")
        items.append(
            LineItem(
                r.name,
                "Cloud SQL backups + PITR logs (≈ disk size)",
                disk,
                unit,
                price,
                f"{disk:g} GB assumed",
            )
        )
    return items


def _run_service_items(r: PlannedResource, prices: dict, hours: float) -> list[LineItem]:
    minimum = int(r.get("template", "scaling", "minInstanceCount", default=0) or 0)
    if minimum == 0:
        return []
    container = r.get("template", "containers", 0, default={})
    limits = (container.get("resources") or {}).get("limits") or {}
    cpu, mem = _cpu(str(limits.get("cpu", "1"))), _gib(str(limits.get("memory", "512Mi")))
    always = (container.get("resources") or {}).get("cpuIdle") is False
    kind = "instance" if always else "idle"
    seconds = minimum * hours * SECONDS_PER_HOUR
    p_cpu, _ = _price(prices, f"cloud_run_vcpu_second_{kind}")
    p_mem, _ = _price(prices, f"cloud_run_memory_gib_second_{kind}")
    label = "CPU always allocated" if always else "idle min instance"
    return [
        LineItem(
            r.name,
            f"Cloud Run min instance vCPU ({label})",
            cpu * seconds,
            "vCPU-second",
            p_cpu,
            f"{minimum} × {cpu:g} vCPU × {hours:g} h × 3600 s",
        ),
        LineItem(
            r.name,
            f"Cloud Run min instance memory ({label})",
            mem * seconds,
            "GiB-second",
            p_mem,
            f"{minimum} × {mem:.4g} GiB × {hours:g} h × 3600 s",
        ),
    ]


def idle_items(
    resources: list[PlannedResource], prices: dict | None = None, assume: Assumptions | None = None
) -> list[LineItem]:
    """What the stack costs per month with nobody using it and no pipeline running."""
    prices = prices or load_prices()
    assume = assume or Assumptions()
    hours = float(prices["hours_per_month"])
    items: list[LineItem] = []

    def flat(r: PlannedResource, key: str, what: str, quantity: float, arithmetic: str) -> None:
        price, unit = _price(prices, key)
        items.append(LineItem(r.name, what, quantity, unit, price, arithmetic))

    for r in resources:
        if r.type == SQL:
            items += _sql_items(r, prices, hours)
        elif r.type == RUN_SERVICE:
            items += _run_service_items(r, prices, hours)
        elif r.type == SECRET_VERSION:
            flat(r, "secret_manager_active_version_month", "Secret Manager version", 1, "1")
        elif r.type == SCHEDULER_JOB:
            flat(r, "cloud_scheduler_job_month", "Cloud Scheduler job", 1, "1")
        elif r.type == ALERT_POLICY:
            n = len(r.get("conditions", default=[]) or [])
            flat(r, "monitoring_alert_condition_month", "Alert policy conditions", n, f"{n}")
        elif r.type == REGISTRY:
            flat(
                r,
                "artifact_registry_gb_month",
                "Artifact Registry image storage",
                assume.image_gb,
                f"{assume.image_gb:g} GB assumed",
            )
        elif r.type == BUCKET and r.name == STATE_BUCKET:
            flat(
                r,
                "gcs_standard_regional_gb_month",
                "GCS Mage state (run logs, block outputs, dev project)",
                assume.state_gb,
                f"{assume.state_gb:g} GB assumed",
            )
        elif r.type == BUCKET:
            flat(
                r,
                "gcs_standard_regional_gb_month",
                "GCS lake (Standard)",
                assume.lake_gb,
                f"{assume.lake_gb:g} GB assumed",
            )
        elif r.type == DATASET:
            flat(
                r,
                "bigquery_active_storage_gb_month",
                "BigQuery active storage",
                assume.warehouse_gb,
                f"{assume.warehouse_gb:g} GB assumed",
            )
        elif r.type == FILESTORE:
            shares = r.get("fileShares", default=[]) or []  # one block in pulumi-gcp
            shares = [shares] if isinstance(shares, dict) else shares
            gb = math.fsum(float(s.get("capacityGb", 0)) for s in shares)
            flat(r, "filestore_basic_hdd_gib_month", "Filestore BASIC_HDD", gb, f"{gb:g} GiB")
        elif r.type == FORWARDING_RULE:
            flat(
                r,
                "load_balancer_forwarding_rule_hour",
                "Load balancer forwarding rule",
                hours,
                f"{hours:g} h",
            )
        elif r.type == ARMOR:
            rules = len(r.get("rules", default=[]) or [])
            flat(r, "cloud_armor_policy_month", "Cloud Armor policy", 1, "1")
            flat(r, "cloud_armor_rule_month", "Cloud Armor rules", rules, f"{rules}")
        elif r.type == CONNECTOR:
            n = int(r.get("minInstances", default=2))
            flat(
                r,
                "e2_micro_hour",
                "Serverless VPC connector (e2-micro)",
                n * hours,
                f"{n} instances × {hours:g} h",
            )
    return items


def runs_per_month(cron: str) -> float:
    """Average monthly fires of a five-field cron, names such as MON-FRI or JAN included
    (croniter expands the fields; day-of-month and day-of-week are combined as cron does)."""

    minutes, hours, doms, months, dows = croniter.expand(cron)[0]

    def count(values: list, size: int) -> int:
        return size if values == ["*"] else len(set(values))

    per_day = count(minutes, 60) * count(hours, 24)
    dom_days = count(doms, 31) * (DAYS_PER_MONTH / 30.42)
    dow_days = DAYS_PER_MONTH * count(dows, 7) / 7
    if doms != ["*"] and dows != ["*"]:  # cron fires when either matches
        days = min(DAYS_PER_MONTH, dom_days + dow_days)
    elif doms != ["*"]:
        days = dom_days
    else:
        days = dow_days
    return per_day * days * count(months, 12) / 12


def run_costs(
    resources: list[PlannedResource], prices: dict | None = None, assume: Assumptions | None = None
) -> list[RunCost]:
    """Per-run cost of each pipeline job (its limits × the expected run length)."""
    prices = prices or load_prices()
    assume = assume or Assumptions()
    schedules = {}
    for r in resources:
        if r.type == SCHEDULER_JOB:
            schedules[str(r.get("name", default="")).removesuffix("-schedule")] = r.get("schedule")
    seconds = assume.run_minutes * 60
    p_cpu, _ = _price(prices, "cloud_run_job_vcpu_second")
    p_mem, _ = _price(prices, "cloud_run_job_memory_gib_second")
    costs = []
    for r in resources:
        if r.type != RUN_JOB:
            continue
        container = r.get("template", "template", "containers", 0, default={})
        limits = (container.get("resources") or {}).get("limits") or {}
        cpu, mem = _cpu(str(limits.get("cpu", "1"))), _gib(str(limits.get("memory", "512Mi")))
        args = container.get("args") or []
        pipeline = args[2] if len(args) > 2 else r.name
        cron = schedules.get(r.get("name"))
        costs.append(
            RunCost(
                pipeline=pipeline,
                items=[
                    LineItem(
                        r.name,
                        "job vCPU",
                        cpu * seconds,
                        "vCPU-second",
                        p_cpu,
                        f"{cpu:g} vCPU × {assume.run_minutes:g} min × 60 s",
                    ),
                    LineItem(
                        r.name,
                        "job memory",
                        mem * seconds,
                        "GiB-second",
                        p_mem,
                        f"{mem:.4g} GiB × {assume.run_minutes:g} min × 60 s",
                    ),
                ],
                runs_per_month=runs_per_month(cron) if cron else 0.0,
                cron=cron,
            )
        )
    return costs


def estimate(
    resources: list[PlannedResource], assume: Assumptions | None = None, prices: dict | None = None
) -> Estimate:
    prices = prices or load_prices()
    assume = assume or Assumptions(
        image_gb=float(prices["assumptions"]["image_gb"]),
        warehouse_gb=float(prices["assumptions"]["warehouse_gb"]),
    )
    return Estimate(
        as_of=str(prices["as_of"]),
        idle=idle_items(resources, prices, assume),
        runs=run_costs(resources, prices, assume),
    )


def assumptions_for(cfg: Any, prices: dict | None = None) -> Assumptions:
    prices = prices or load_prices()
    return Assumptions(
        lake_gb=cfg.lake.expected_gb,
        warehouse_gb=float(prices["assumptions"]["warehouse_gb"]),
        image_gb=float(prices["assumptions"]["image_gb"]),
        run_minutes=cfg.expected_run_minutes,
        state_gb=float(prices["assumptions"].get("state_gb", 0.5)),
    )


def official_template_plan() -> list[PlannedResource]:
    """Mage's official GCP Terraform template (mage-ai/mage-ai-terraform-templates, gcp/):
    1 TB BASIC_HDD Filestore, serverless VPC connector, HTTP load balancer + Cloud Armor,
    Cloud Run min 1 instance of 2 vCPU / 2 GB with CPU always allocated, Cloud SQL."""
    return [
        PlannedResource(
            FILESTORE, "filestore", {"tier": "BASIC_HDD", "fileShares": {"capacityGb": 1024}}
        ),
        PlannedResource(CONNECTOR, "vpc-connector", {"minInstances": 2}),
        PlannedResource(FORWARDING_RULE, "lb-frontend"),
        PlannedResource(ARMOR, "security-policy", {"rules": [{}, {}]}),
        PlannedResource(
            RUN_SERVICE,
            "run-service",
            {
                "template": {
                    "scaling": {"minInstanceCount": 1},
                    "containers": [
                        {"resources": {"limits": {"cpu": "2", "memory": "2G"}, "cpuIdle": False}}
                    ],
                }
            },
        ),
        PlannedResource(
            SQL,
            "sql",
            {
                "settings": {
                    "tier": "db-f1-micro",
                    "diskSize": 10,
                    "diskType": "PD_SSD",
                    "backupConfiguration": {"enabled": False},
                }
            },
        ),
    ]
