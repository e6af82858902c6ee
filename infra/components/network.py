"""A private VPC: one subnet for Cloud Run's Direct VPC egress and private services access
so Cloud SQL gets a private IP only."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi_gcp as gcp

from infra.components.base import Component


@dataclass
class NetworkArgs:
    project: str
    region: str
    subnet_cidr: str = "10.10.0.0/24"
    peering_prefix_length: int = 20


class Network(Component, area="network"):
    """VPC, subnet (Private Google Access on) and the service-networking peering for Cloud SQL."""

    def build(self, name: str, args: NetworkArgs) -> dict:
        self.vpc = gcp.compute.Network(
            f"{name}-vpc",
            project=args.project,
            auto_create_subnetworks=False,
            description="Private network for Mage on Cloud Run and Cloud SQL",
            opts=self.child,
        )
        self.subnet = gcp.compute.Subnetwork(
            f"{name}-subnet",
            project=args.project,
            region=args.region,
            network=self.vpc.id,
            ip_cidr_range=args.subnet_cidr,
            private_ip_google_access=True,
            opts=self.child,
        )
        self.peering_range = gcp.compute.GlobalAddress(
            f"{name}-sql-range",
            project=args.project,
            network=self.vpc.id,
            purpose="VPC_PEERING",
            address_type="INTERNAL",
            prefix_length=args.peering_prefix_length,
            opts=self.child,
        )
        self.private_services = gcp.servicenetworking.Connection(
            f"{name}-private-services",
            network=self.vpc.id,
            service="servicenetworking.googleapis.com",
            reserved_peering_ranges=[self.peering_range.name],
            opts=self.child,
        )
        return {"network": self.vpc.id, "subnet": self.subnet.id}
