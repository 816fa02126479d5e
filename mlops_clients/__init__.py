"""Clients of the stack's services, used by the stack's post-provision commands.

No Pulumi import: the same code runs from a `pulumi-command` resource, a test or
a person's shell (`python -m mlops_clients.<service> <action>`). Secrets come
from the environment, never the command line.
"""
