"""One MLflow run per data version: what produced it and where it lives.

Spoken over MLflow's REST API (2.0, basic auth) with `requests`, which the
image has for DVC: the image needs no MLflow client. Every call has a
timeout; a server that does not answer, or refuses the account, is a
`LineageError` naming the call.

The run records the code commit and the `code_ref` asked for, the data tag,
the DVC md5 of the output, the dataset as an input (digest = the md5, source
= the git tag and DVC path: `dataset_source`) and the `.dvc` pointer as an
artifact. The tag's annotation names the run back (`MLflow-Run-Id:`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import requests

DEFAULT_EXPERIMENT = "de_datapreprocessing"
DATASET_NAME = "churn_features"
DATASET_SOURCE_TYPE = "dvc"
TIMEOUT = 30.0

# Tags of the data run: what a training run or a person looks a data version up by.
TAG_DATA_TAG = "mlops.data_tag"
TAG_DATA_MD5 = "mlops.data_md5"
TAG_CODE_COMMIT = "mlops.code_commit"
TAG_CODE_REF = "mlops.code_ref"
TAG_DVC_PATH = "mlops.dvc_path"
TAG_DATA_COMMIT = "mlops.data_commit"


class LineageError(Exception):
    """MLflow did not take the lineage record; ``call`` names what was asked."""

    def __init__(self, call: str, message: str) -> None:
        super().__init__(f"{call}: {message}")
        self.call = call
        self.message = message


def dataset_source(repo: str, tag: str, path: str, md5: str) -> str:
    """The dataset's source, identical on the data run and on every training run of it."""
    return json.dumps({"md5": md5, "path": path, "repo": repo, "tag": tag}, sort_keys=True)


@dataclass(frozen=True)
class TrackingConfig:
    uri: str
    username: str
    password: str
    experiment: str = DEFAULT_EXPERIMENT

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> tuple[TrackingConfig | None, list[str]]:
        """(config, problems); no MLFLOW_TRACKING_URI = no lineage record (a stack without MLflow)."""
        uri = env.get("MLFLOW_TRACKING_URI", "").strip().rstrip("/")
        if not uri:
            return None, []
        problems = []
        if urlsplit(uri).scheme not in ("http", "https"):
            problems.append(f"MLFLOW_TRACKING_URI={uri!r} must be an http(s) URL of the tracking server")
        username, password = env.get("MLFLOW_TRACKING_USERNAME", ""), env.get("MLFLOW_TRACKING_PASSWORD", "")
        if not username or not password:
            problems.append(
                "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD must be set with MLFLOW_TRACKING_URI"
            )
        experiment = env.get("MLFLOW_EXPERIMENT_NAME", "").strip() or DEFAULT_EXPERIMENT
        return cls(uri, username, password, experiment), problems


class Tracking:
    def __init__(self, config: TrackingConfig, timeout: float = TIMEOUT) -> None:
        self.config = config
        self.timeout = timeout
        self.session = requests.Session()
        self.session.auth = (config.username, config.password)

    def _call(self, method: str, path: str, call: str, missing_ok: bool = False, **kwargs: Any) -> dict[str, Any]:
        """The JSON answer; with `missing_ok`, {} for a 404 (the thing does not exist)."""
        url = f"{self.config.uri}/api/2.0/{path}"
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as error:
            raise LineageError(call, f"MLflow at {self.config.uri} does not answer ({type(error).__name__})") from None
        if response.status_code in (401, 403):
            raise LineageError(
                call, f"MLflow refused the account {self.config.username!r} (HTTP {response.status_code})"
            )
        if missing_ok and response.status_code == 404:
            return {}
        if not response.ok:
            raise LineageError(call, f"HTTP {response.status_code}: {response.text[:300]}")
        try:
            answer = response.json() if response.content else {}
        except ValueError:
            raise LineageError(call, f"the answer is not JSON: {response.text[:200]!r}") from None
        if not isinstance(answer, dict):
            raise LineageError(call, f"unexpected answer {str(answer)[:200]!r}")
        return answer

    def experiment_id(self) -> str:
        """The experiment's id, created on first use (the account then manages it)."""
        name = self.config.experiment
        found = self._call(
            "GET", "mlflow/experiments/get-by-name", "find experiment", True, params={"experiment_name": name}
        )
        if found:
            return str(found["experiment"]["experiment_id"])
        created = self._call("POST", "mlflow/experiments/create", "create experiment", json={"name": name})
        return str(created["experiment_id"])

    def start_run(self, experiment_id: str, run_name: str, tags: Mapping[str, str]) -> tuple[str, str]:
        """(run id, artifact URI) of a new run."""
        body = {
            "experiment_id": experiment_id,
            "run_name": run_name,
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
        }
        info = self._call("POST", "mlflow/runs/create", "create run", json=body)["run"]["info"]
        return str(info["run_id"]), str(info["artifact_uri"])

    def log_dataset(self, run_id: str, *, digest: str, source: str, context: str) -> None:
        dataset = {"name": DATASET_NAME, "digest": digest, "source_type": DATASET_SOURCE_TYPE, "source": source}
        body = {
            "run_id": run_id,
            "datasets": [{"dataset": dataset, "tags": [{"key": "mlflow.data.context", "value": context}]}],
        }
        self._call("POST", "mlflow/runs/log-inputs", "log dataset", json=body)

    def upload_artifact(self, artifact_uri: str, name: str, content: bytes) -> None:
        """Through the server's artifact proxy (`mlflow-artifacts:/...`): no S3 credentials here."""
        prefix = "mlflow-artifacts:/"
        if not artifact_uri.startswith(prefix):
            raise LineageError("upload artifact", f"the server does not proxy artifacts (artifact URI {artifact_uri})")
        path = quote(f"{artifact_uri.removeprefix(prefix).strip('/')}/{name}")
        self._call("PUT", f"mlflow-artifacts/artifacts/{path}", "upload artifact", data=content)

    def end_run(self, run_id: str, status: str) -> None:
        self._call("POST", "mlflow/runs/update", "end run", json={"run_id": run_id, "status": status})
