"""The offline tools over the Pulumi program: `make plan`, `make cost`."""
