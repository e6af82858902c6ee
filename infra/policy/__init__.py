"""The CrossGuard pack (`pulumi preview --policy-pack infra/policy`) and its one rule set."""
