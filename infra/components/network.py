"""A private VPC: one subnet for Cloud Run's Direct VPC egress and private services access
so Cloud SQL gets a private IP only."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.components.base import Component


@dataclass
class NetworkArgs:
    project: str
    region: str
    #: dev (no deletion protection): `pulumi destroy` leaves the VPC and its subnet in the
    #: project instead of failing on them (docs/deploy.md, "Tear down").
    keep_network_on_destroy: bool
    subnet_cidr: str = "10.10.0.0/24"
    peering_prefix_length: int = 20


class Network(Component, area="network"):
    """VPC, subnet (Private Google Access on) and the service-networking peering for Cloud SQL."""

    def build(self, name: str, args: NetworkArgs) -> dict:
        # Cloud Run keeps a Direct VPC egress subnet's addresses for 1-2 hours after the last
        # revision or execution that used it, and the subnet cannot be deleted until then
        # (https://cloud.google.com/run/docs/configuring/vpc-direct-vpc); nor can its VPC. A dev
        # teardown therefore leaves both (they cost nothing) rather than fail half-way.
        kept = pulumi.ResourceOptions.merge(
            self.child, pulumi.ResourceOptions(retain_on_delete=args.keep_network_on_destroy)
        )
        self.vpc = gcp.compute.Network(
            f"{name}-vpc",
            project=args.project,
            auto_create_subnetworks=False,
            description="Private network for Mage on Cloud Run and Cloud SQL",
            opts=kept,
        )
        self.subnet = gcp.compute.Subnetwork(
            f"{name}-subnet",
            project=args.project,
            region=args.region,
            network=self.vpc.id,
            ip_cidr_range=args.subnet_cidr,
            private_ip_google_access=True,
            opts=kept,
        )
        self.peering_range = self.own(
            gcp.compute.GlobalAddress,
            "sql-range",
            network=self.vpc.id,
            purpose="VPC_PEERING",
            address_type="INTERNAL",
            prefix_length=args.peering_prefix_length,
        )
        self.private_services = gcp.servicenetworking.Connection(
            f"{name}-private-services",
            network=self.vpc.id,
            service="servicenetworking.googleapis.com",
            reserved_peering_ranges=[self.peering_range.name],
            # Deleting the connection while Cloud SQL's producer side still uses it is refused
            # ("Producer services are still using this connection", pulumi-gcp #3354): the
            # provider then removes the VPC peering instead, so the range and network can go
            # (https://www.pulumi.com/registry/packages/gcp/api-docs/servicenetworking/connection/).
            # ABANDON would leave the peering, which blocks deleting the network.
            deletion_policy="REMOVE_PEERING",
            opts=self.child,
        )
        return {"network": self.vpc.id, "subnet": self.subnet.id}
