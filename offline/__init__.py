"""Offline scaffolding: stand-ins and fakes for what this machine cannot obtain (see README.md)."""
