"""Artifact Registry repository and the image of this repo's Mage project, built and pushed by
`pulumi up` (pulumi-docker-build) and referenced by digest.

- ``pulumi preview`` builds nothing (``build_on_preview=False``): previews stay fast and need no
  Docker daemon; the image is built by ``pulumi up`` only.
- The build context and the Dockerfile are given relative to the program's working directory, so
  the image resource's inputs are the same from any checkout path (a laptop, then CI) and an
  unchanged tree does not rebuild.
- The build reads and writes a registry cache (``:buildcache`` beside the image, mode max), so an
  unchanged ``uv.lock`` reuses the installed layer instead of reinstalling Mage
  (https://docs.docker.com/build/cache/backends/registry/).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_docker_build as docker_build
import pulumi_gcp as gcp

from infra.components.base import Component
from mage_project.utils.image_contract import REPO_ROOT


@dataclass
class ImageArgs:
    project: str
    region: str
    repository_id: str
    image_name: str = "mage-project"
    context_dir: Path = REPO_ROOT
    keep_versions: int = 3


class Image(Component, area="image"):
    """``ref`` is ``<registry>/<repo>/<image>@sha256:…`` — what Cloud Run deploys."""

    def build(self, name: str, args: ImageArgs) -> dict:
        self.repository = self.own(
            gcp.artifactregistry.Repository,
            "repo",
            location=args.region,
            repository_id=args.repository_id,
            format="DOCKER",
            description="Images of the Mage project deployed by Pulumi",
            cleanup_policies=[
                {
                    "id": "keep-recent",
                    "action": "KEEP",
                    "most_recent_versions": {"keep_count": args.keep_versions},
                },
                {
                    "id": "delete-old",
                    "action": "DELETE",
                    "condition": {"older_than": "2592000s", "tag_state": "ANY"},
                },
            ],
        )
        registry = f"{args.region}-docker.pkg.dev"
        self.repository_url = pulumi.Output.format(
            "{0}/{1}/{2}", registry, args.project, self.repository.repository_id
        )
        token = gcp.organizations.get_client_config_output().access_token
        context = relative_to_cwd(args.context_dir)
        cache_ref = pulumi.Output.format("{0}/{1}:buildcache", self.repository_url, args.image_name)
        self.image = docker_build.Image(
            f"{name}-build",
            context={"location": context},
            dockerfile={"location": str(Path(context) / "Dockerfile")},
            platforms=["linux/amd64"],
            push=True,
            build_on_preview=False,
            cache_from=[{"registry": {"ref": cache_ref}}],
            cache_to=[
                {
                    "registry": {
                        "ref": cache_ref,
                        "mode": "max",
                        "image_manifest": True,
                        "oci_media_types": True,
                    }
                }
            ],  # fmt: skip
            tags=[
                pulumi.Output.format(
                    "{0}/{1}:{2}", self.repository_url, args.image_name, pulumi.get_stack()
                )
            ],
            registries=[{"address": registry, "username": "oauth2accesstoken", "password": token}],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.repository]),
        )
        self.digest = self.image.digest
        self.ref = pulumi.Output.format(
            "{0}/{1}@{2}", self.repository_url, args.image_name, self.image.digest
        )
        return {"ref": self.ref, "digest": self.digest}


def relative_to_cwd(path: Path) -> str:
    """``path`` relative to the program's working directory (``.`` or ``..``: Pulumi runs the
    program from the project or its ``main`` folder), never an absolute path of this machine."""
    return os.path.relpath(path, Path.cwd())
