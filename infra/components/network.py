"""A private VPC: one subnet for Cloud Run's Direct VPC egress and private services access
so Cloud SQL gets a private IP only."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp


@dataclass
class NetworkArgs:
    project: str
    region: str
    subnet_cidr: str = "10.10.0.0/24"
    peering_prefix_length: int = 20


class Network(pulumi.ComponentResource):
    """VPC, subnet (Private Google Access on) and the service-networking peering for Cloud SQL."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mage-gcp:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.vpc = gcp.compute.Network(
            f"{name}-vpc",
            project=args.project,
            auto_create_subnetworks=False,
            description="Private network for Mage on Cloud Run and Cloud SQL",
            opts=child,
        )
        self.subnet = gcp.compute.Subnetwork(
            f"{name}-subnet",
            project=args.project,
            region=args.region,
            network=self.vpc.id,
            ip_cidr_range=args.subnet_cidr,
            private_ip_google_access=True,
            opts=child,
        )
        self.peering_range = gcp.compute.GlobalAddress(
            f"{name}-sql-range",
            project=args.project,
            network=self.vpc.id,
            purpose="VPC_PEERING",
            address_type="INTERNAL",
            prefix_length=args.peering_prefix_length,
            opts=child,
        )
        self.private_services = gcp.servicenetworking.Connection(
            f"{name}-private-services",
            network=self.vpc.id,
            service="servicenetworking.googleapis.com",
            reserved_peering_ranges=[self.peering_range.name],
            opts=child,
        )
        self.register_outputs({"network": self.vpc.id, "subnet": self.subnet.id})
