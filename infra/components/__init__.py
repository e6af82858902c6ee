"""One Pulumi ComponentResource per concern of the stack."""
