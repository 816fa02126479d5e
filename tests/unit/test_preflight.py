"""scripts/preflight.py: which images a stack's config asks for (the engine part runs in `scripts/up.sh`)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

from components import jenkins, mysql, phpmyadmin

PROJECT_DIR = Path(__file__).resolve().parents[2]


def preflight() -> ModuleType:
    spec = importlib.util.spec_from_file_location("preflight", PROJECT_DIR / "scripts" / "preflight.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["preflight"] = module
    spec.loader.exec_module(module)
    return module


def project(tmp_path: Path, stack_yaml: str) -> Path:
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.s.yaml").write_text(stack_yaml)
    return tmp_path


def test_the_pins_of_enabled_services_and_the_images_the_config_sets(tmp_path: Path) -> None:
    images = preflight().stack_images(
        project(
            tmp_path,
            "config:\n"
            "  mlops-stack:retainVolumes: true\n"
            "  mlops-stack:mysqlRootPassword:\n    secure: v1:abc\n"
            "  mlops-stack:mysql:\n    image: example.org/mysql:1\n"
            "  mlops-stack:jenkins:\n    enabled: false\n",
        ),
        "s",
    )
    assert "example.org/mysql:1" in images and mysql.SPEC.image not in images
    assert jenkins.SPEC.image not in images  # disabled
    assert phpmyadmin.SPEC.image not in images  # off unless enabled


def test_an_invalid_config_is_left_to_pulumi_up(tmp_path: Path) -> None:
    assert preflight().stack_images(project(tmp_path, "config:\n  mlops-stack:nonsense: 1\n"), "s") == []
