"""The stack's services, one Pulumi ComponentResource per module."""
