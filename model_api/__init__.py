"""The model API: serves a registered MLflow model and follows its alias (issue: the model half, part 2).

Runs under uvicorn, one worker per container, in the image built from images/model-api (the
stack's MLflow image plus the libraries of requirements.txt); this package is uploaded into
the container, as MLflow's prepare code is. Nothing here imports Pulumi.

- settings.py: what it is told (ModelApiEnv, MLflow's MLFLOW_TRACKING_*), checked at start;
- loading.py: one version downloaded through the tracking server, loaded with skops's
  default trust only, checked on its own input example;
- serving.py: the served model, swapped atomically when the alias moves;
- app.py: the HTTP API (/predict, /health, /metadata, /metrics).
"""
