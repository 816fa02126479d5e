"""Fakes of services that cannot run offline, shaped on their real APIs."""
