"""mlops-stack: a self-hosted MLOps platform on one Docker host.

Thin on purpose: read and validate the stack's config once, build the
platform (components/platform.py), export where to log in.
"""

import pulumi

from components import config, platform

stack = config.from_pulumi(platform.SERVICES)
for key, value in platform.deploy(stack).outputs().items():
    pulumi.export(key, value)
