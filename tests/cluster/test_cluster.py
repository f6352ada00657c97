"""cluster/: the manifests carry what their tools need, and the whole stack works on one machine.

The slow tests start, over loopback, what cluster/README.md starts on real machines (by
cluster/tests/local_cluster.sh): PostgreSQL with the MLflow and Optuna databases, the MLflow
server with basic auth, a Ray head and a second Ray node as separate processes with token auth.
A synthetic study goes in with `ray job submit`; its trials must run on both nodes and land in
that server. Everything is stopped at the end, also when a test fails.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "cluster"
LOCAL_CLUSTER = CLUSTER / "tests" / "local_cluster.sh"
MANY_WRITERS = CLUSTER / "tests" / "many_writers.py"
DB_POOL = CLUSTER / "mlflow" / "db_pool.sh"
STUDY = "ablation_compcars"  # 3 trials: with two 1-CPU nodes, two run at once, one per node
EXPERIMENT = f"{STUDY}-synthetic"


# --------------------------------------------------------------------------------------------
# Manifests (fast)


def _load(path: Path) -> Any:
    with path.open() as f:
        return yaml.safe_load(f)


def _load_all(path: Path) -> list[Any]:
    with path.open() as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def test_launcher_config_has_what_ray_up_needs() -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    cfg = _load(CLUSTER / "ray" / "cluster.yaml")
    # What `ray up` does first: fill in the provider's defaults, check against Ray's schema.
    validate_config(prepare_config(cfg))
    for key in ("cluster_name", "max_workers", "provider", "auth", "available_node_types",
                "head_node_type", "file_mounts", "setup_commands", "head_start_ray_commands",
                "worker_start_ray_commands"):  # fmt: skip
        assert key in cfg, key
    assert cfg["provider"]["type"] in {"aws", "gcp", "azure"}
    types = cfg["available_node_types"]
    head = types[cfg["head_node_type"]]
    workers = [v for k, v in types.items() if k != cfg["head_node_type"]]
    assert workers, "a worker node type"
    for node_type in types.values():
        assert {"node_config", "resources", "min_workers", "max_workers"} <= node_type.keys()
    # No trial on the head: it has no CPU or GPU for Ray to hand out.
    assert head["resources"].get("CPU") == 0 and head["resources"].get("GPU", 0) == 0
    assert any(w["resources"].get("GPU", 0) >= 1 for w in workers)
    # Every node installs this project from the synced repository, and runs Ray with a token.
    assert any("/a3m-studies" in dst for dst in cfg["file_mounts"])
    assert any("pip install" in c and "-e" in c for c in cfg["setup_commands"])
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        joined = " ".join(cfg[key])
        assert "ray start" in joined and "RAY_AUTH_MODE=token" in joined, key
    assert "--head" in " ".join(cfg["head_start_ray_commands"])


def _containers(pod_template: dict[str, Any]) -> list[dict[str, Any]]:
    return pod_template["spec"]["containers"]


def _check_raycluster_spec(spec: dict[str, Any]) -> None:
    head = spec["headGroupSpec"]
    assert "rayStartParams" in head and _containers(head["template"])
    # Trials go to the GPU workers: the head offers Ray no CPU.
    assert str(head["rayStartParams"].get("num-cpus")) == "0"
    groups = spec["workerGroupSpecs"]
    assert groups
    for group in groups:
        assert {"groupName", "replicas", "minReplicas", "maxReplicas", "rayStartParams",
                "template"} <= group.keys()  # fmt: skip
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        limits = _containers(group["template"])[0]["resources"]["limits"]
        assert int(limits["nvidia.com/gpu"]) >= 1
    for template in [head["template"], *(g["template"] for g in groups)]:
        container = _containers(template)[0]
        assert container["image"]
        env = {e["name"]: e for e in container.get("env", [])}
        assert "MLFLOW_TRACKING_URI" in env
        # Credentials come from Secrets, never inline.
        for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            assert "secretKeyRef" in env[name]["valueFrom"], name
    assert spec.get("authOptions", {}).get("mode") == "token"


def _only(manifest: str, kind: str) -> dict[str, Any]:
    """The one object of ``kind`` in ``cluster/k8s/<manifest>``, of the KubeRay v1 API."""
    (found,) = [d for d in _load_all(CLUSTER / "k8s" / manifest) if d.get("kind") == kind]
    assert found["apiVersion"] == "ray.io/v1"
    return found


def test_raycluster_manifest() -> None:
    cluster = _only("raycluster.yaml", "RayCluster")
    assert cluster["metadata"]["name"]
    _check_raycluster_spec(cluster["spec"])


def test_rayjob_manifest() -> None:
    spec = _only("rayjob.yaml", "RayJob")["spec"]
    assert ("rayClusterSpec" in spec) != ("clusterSelector" in spec)
    if "rayClusterSpec" in spec:
        _check_raycluster_spec(spec["rayClusterSpec"])
    entrypoint = shlex.split(spec["entrypoint"])
    assert entrypoint[:2] == ["python", "studies/alpha_beta_cub.py"]
    assert (ROOT / entrypoint[1]).is_file()
    # --gpus-per-trial explicit: an autoscaling cluster has no GPU yet when the driver starts.
    for flag in ("--address", "--tracking-uri", "--storage-path", "--gpus-per-trial"):
        assert flag in entrypoint, flag
    assert entrypoint[entrypoint.index("--storage-path") + 1].startswith(("s3://", "gs://"))


def test_other_manifests_parse() -> None:
    for path in sorted((CLUSTER / "k8s").glob("*.yaml")):
        for doc in _load_all(path):
            assert {"apiVersion", "kind", "metadata"} <= doc.keys(), path


def test_scripts_are_valid_bash() -> None:
    scripts = sorted(CLUSTER.rglob("*.sh"))
    assert len(scripts) >= 4
    for script in scripts:
        assert os.access(script, os.X_OK), f"{script} is not executable"
        text = script.read_text()
        assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text, script
        proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


def _db_pool(**env: str) -> subprocess.CompletedProcess[str]:
    """cluster/mlflow/db_pool.sh run with `env` (no inherited MLFLOW_*): settings and budget."""
    return subprocess.run(
        ["bash", "-c", '. "$0" && env | grep ^MLFLOW_ && db_connection_budget "$MLFLOW_AUTH"',
         str(DB_POOL)],
        env=_clean_env(**({"MLFLOW_AUTH": "1"} | env)), capture_output=True, text=True,
    )  # fmt: skip


def test_db_pool_cannot_deadlock_and_counts_every_store() -> None:
    import anyio
    import anyio.to_thread

    proc = _db_pool()
    assert proc.returncode == 0, proc.stderr
    *lines, budget = proc.stdout.split()
    settings = dict(line.split("=", 1) for line in lines)
    pool = int(settings["MLFLOW_SQLALCHEMYSTORE_POOL_SIZE"])
    overflow = int(settings["MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW"])

    async def threads() -> int:
        return int(anyio.to_thread.current_default_thread_limiter().total_tokens)

    # A uvicorn worker runs Flask on anyio's threads; log_batch holds one connection and takes
    # a second: one connection more than threads lets one of them always finish.
    assert pool + overflow > anyio.run(threads)
    # workers x 3 stores (tracking, model registry, auth) x (pool + overflow) + the supervisor's
    workers = int(settings["MLFLOW_WORKERS"])
    assert int(budget) == workers * 3 * (pool + overflow) + 3 * pool
    two = _db_pool(MLFLOW_WORKERS="2").stdout.split()[-1]
    assert int(two) == int(budget) + 3 * (pool + overflow)
    # MLflow ignores a 0 (SQLAlchemy's default then applies): refused, by name.
    proc = _db_pool(MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW="0")
    assert proc.returncode != 0 and "MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW=0" in proc.stderr


# --------------------------------------------------------------------------------------------
# The stack on one machine (slow)


def _read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        env[key] = value
    return env


def _logs(run: Path) -> str:
    out = []
    for log in sorted((run / "logs").glob("*.log")):
        out.append(f"--- {log.name}\n" + "\n".join(log.read_text().splitlines()[-40:]))
    return "\n".join(out)


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what could point our clients elsewhere."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RAY_", "MLFLOW_", "PG")) and k != "A3M_SYNTHETIC_DIR"
    }
    return env | extra


@pytest.fixture(scope="module")
def cluster() -> Iterator[dict[str, str]]:
    # A short folder: Ray's Unix socket paths live below it (107 characters at most).
    run = Path(tempfile.mkdtemp(prefix="a3mc.", dir="/tmp"))
    env = _clean_env(PYTHON=sys.executable)
    try:
        up = subprocess.run(
            [str(LOCAL_CLUSTER), "up", str(run)], env=env, capture_output=True, text=True,
            timeout=900,
        )  # fmt: skip
        if up.returncode != 0:
            pytest.fail(f"local_cluster.sh up failed:\n{up.stderr[-6000:]}\n{_logs(run)}")
        yield _read_env(run / "env")
    finally:
        down = subprocess.run(
            [str(LOCAL_CLUSTER), "down", str(run)], env=env, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip
        # A process of ours left running is a failure of this test too.
        assert down.returncode == 0, down.stderr
        assert not run.exists()


def _ray(
    cluster: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = _clean_env(
        RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=cluster["RAY_AUTH_TOKEN_PATH"],
        PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    )  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "ray.scripts.scripts", *args], env=env, capture_output=True,
        text=True, timeout=timeout,
    )  # fmt: skip


def _alive_nodes(cluster: dict[str, str]) -> set[str]:
    proc = _ray(cluster, "list", "nodes", "--address", cluster["A3M_RAY_JOB_ADDRESS"],
                "--filter", "state=ALIVE", "--format", "json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return {node["node_id"] for node in json.loads(proc.stdout)}


Login = Callable[[str | None, str | None], None]


@pytest.fixture
def as_user(monkeypatch: pytest.MonkeyPatch) -> Login:
    """Set (or with None, remove) the MLflow credentials this process's clients send."""

    def login(user: str | None, password: str | None) -> None:
        for key, value in (("MLFLOW_TRACKING_USERNAME", user),
                           ("MLFLOW_TRACKING_PASSWORD", password)):  # fmt: skip
            if value is None:
                monkeypatch.delenv(key, raising=False)
            else:
                monkeypatch.setenv(key, value)

    return login


def _admin(cluster: dict[str, str], as_user: Login) -> Any:
    """An MLflow client of the tracking server, logged in as its user."""
    from mlflow import MlflowClient

    as_user(cluster["MLFLOW_TRACKING_USERNAME"], cluster["MLFLOW_TRACKING_PASSWORD"])
    return MlflowClient(cluster["MLFLOW_TRACKING_URI"])


def _submit_study(
    cluster: dict[str, str], working_dir: Path, script: str, *args: str, name: str
) -> None:
    """``ray job submit`` a study on the synthetic data to the cluster, storing its Tune state
    and results under the shared folder (``tune<name>``, ``results<name>``); it must succeed."""
    shared = Path(cluster["A3M_SHARED_DIR"])
    submit = _ray(
        cluster, "job", "submit", "--address", cluster["A3M_RAY_JOB_ADDRESS"],
        "--working-dir", str(working_dir), "--",
        "python", script, "--synthetic", *args, "--address", "auto",
        "--tracking-uri", cluster["MLFLOW_TRACKING_URI"],
        "--storage-path", str(shared / f"tune{name}"), "--out", str(shared / f"results{name}"),
        "--cpus-per-trial", "1", "--no-report",
        timeout=900,
    )  # fmt: skip
    assert submit.returncode == 0, submit.stdout[-6000:] + submit.stderr[-3000:]


@pytest.mark.slow
def test_study_runs_on_both_nodes_and_logs_to_the_server(
    cluster: dict[str, str], as_user: Login
) -> None:
    nodes = _alive_nodes(cluster)
    assert len(nodes) == 2
    _submit_study(cluster, ROOT, f"studies/{STUDY}.py", "--epochs", "2", name="")
    client = _admin(cluster, as_user)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 3
    for run in children:
        assert run.info.status == "FINISHED", run.data.tags.get("a3m.error")
        assert run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert {"score", "train_loss", "epoch"} <= run.data.metrics.keys()
        # artifacts went through the server's proxy into its artifact store
        assert "metrics" in {f.path for f in client.list_artifacts(run.info.run_id)}
    # The trials ran on both nodes of this cluster.
    assert {run.data.tags["a3m.ray_node_id"] for run in children} == nodes
    assert any(Path(cluster["A3M_ARTIFACTS_DIR"]).rglob("final.json"))
    # Tune's results and checkpoints are in the shared storage path.
    assert any((Path(cluster["A3M_SHARED_DIR"]) / "tune").glob(f"{EXPERIMENT}_*/train_trial_*"))


@pytest.mark.slow
def test_mlflow_basic_auth_refuses_strangers(cluster: dict[str, str], as_user: Login) -> None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = cluster["MLFLOW_TRACKING_URI"]
    for user, password in ((None, None), (cluster["MLFLOW_TRACKING_USERNAME"], "wrong-password")):
        as_user(user, password)
        with pytest.raises(MlflowException, match="401"):
            MlflowClient(uri).search_experiments()

    client = _admin(cluster, as_user)
    experiment_id = client.create_experiment("auth-check")
    run_id = client.create_run(experiment_id).info.run_id
    client.log_metric(run_id, "m", 0.5)
    client.set_terminated(run_id)
    assert client.get_run(run_id).data.metrics == {"m": 0.5}


@pytest.mark.slow
def test_ray_refuses_a_client_without_the_token(cluster: dict[str, str]) -> None:
    proc = _ray(cluster, "list", "nodes", "--address", cluster["A3M_RAY_JOB_ADDRESS"])
    assert proc.returncode == 0, proc.stderr
    env = _clean_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="0" * 64)
    proc = subprocess.run(
        [sys.executable, "-m", "ray.scripts.scripts", "list", "nodes", "--address",
         cluster["A3M_RAY_JOB_ADDRESS"]],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "AuthenticationError" in proc.stderr, proc.stderr[-3000:]


@pytest.mark.slow
def test_optuna_storage_is_its_own_database(
    cluster: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--optuna-storage postgresql+psycopg://optuna@host/optuna, the password from PGPASSWORD."""
    import optuna
    import sqlalchemy

    monkeypatch.setenv("PGPASSWORD", cluster["OPTUNA_DB_PASSWORD"])
    url = cluster["A3M_OPTUNA_STORAGE"]
    assert ":" not in url.split("@")[0].split("://")[1]  # no password in the URL
    storage = optuna.storages.RDBStorage(url)
    study = optuna.create_study(study_name="check", storage=storage, direction="maximize")
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    assert len(optuna.load_study(study_name="check", storage=url).trials) == 2
    # Optuna's role may not open MLflow's database.
    engine = sqlalchemy.create_engine(url.rsplit("/", 1)[0] + "/mlflow")
    with pytest.raises(sqlalchemy.exc.OperationalError, match="permission denied"):
        engine.connect().close()
    engine.dispose()


@pytest.mark.slow
def test_many_writers_lose_no_metric_and_exhaust_no_connection(cluster: dict[str, str]) -> None:
    """32 trials logging at once: every metric kept, no pool or server out of connections.

    With MLflow's default pools (5 + 10 per store), 6 to 15 of the 32 writers failed in 3 of 5
    runs here with "QueuePool limit of size 5 overflow 10 reached" after 30 s, with a pool of
    4 + 2 25 of 32; test_db_pool_cannot_deadlock_and_counts_every_store holds the rule that
    prevents it (cluster/README.md, "Many writers").
    """
    writers = 32
    env = _clean_env(
        MLFLOW_TRACKING_USERNAME=cluster["MLFLOW_TRACKING_USERNAME"],
        MLFLOW_TRACKING_PASSWORD=cluster["MLFLOW_TRACKING_PASSWORD"],
        PGPASSWORD=cluster["OPTUNA_DB_PASSWORD"],  # any role may count pg_stat_activity
    )
    proc = subprocess.run(
        [sys.executable, str(MANY_WRITERS), "--tracking-uri", cluster["MLFLOW_TRACKING_URI"],
         "--writers", str(writers), "--epochs", "5", "--metrics", "10",
         "--pg-url", cluster["A3M_OPTUNA_STORAGE"], "--server-role", "mlflow"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.stdout, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    # No writer error (retries off: a 5xx or 400 counts), every run FINISHED with all its tags
    # and every point of every metric, the database never out of connections.
    assert report["problems"] == [], report["problems"][:10]
    assert proc.returncode == 0
    # They did write at once, and the connections were counted meanwhile.
    assert report["peak_in_flight"] >= writers // 2
    assert report["samples"] >= 3 and report["peak_server_connections"] > 0
    # The server stayed within the budget of its pools, which PostgreSQL can serve.
    budget = int(cluster["A3M_MLFLOW_DB_CONNECTIONS"])
    assert report["peak_server_connections"] <= budget < report["usable_connections"], report
    log = (Path(cluster["A3M_LOG_DIR"]) / "mlflow.log").read_text()
    for sign in ("QueuePool limit", "too many clients", "remaining connection slots"):
        assert sign not in log, sign


@pytest.mark.slow
def test_start_server_refuses_pools_beyond_max_connections(
    cluster: dict[str, str], tmp_path: Path
) -> None:
    # The check runs before the server starts. Any role may read the settings: Optuna's here.
    env = _clean_env(
        PYTHON=sys.executable, MLFLOW_BACKEND_STORE_URI=cluster["A3M_OPTUNA_STORAGE"],
        MLFLOW_DB_PASSWORD=cluster["OPTUNA_DB_PASSWORD"],
        MLFLOW_ARTIFACTS_DESTINATION=str(tmp_path), MLFLOW_WORKERS="10",
        # were the check to let it through: the port of the running server, taken
        MLFLOW_PORT=cluster["MLFLOW_TRACKING_URI"].rsplit(":", 1)[1],
    )  # fmt: skip
    proc = subprocess.run(
        [str(CLUSTER / "mlflow" / "start_server.sh")], env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0
    budget = _db_pool(MLFLOW_WORKERS="10", MLFLOW_AUTH="0").stdout.split()[-1]
    assert f"opens at most {budget} database connections" in proc.stderr, proc.stderr[-3000:]
    assert "fewer MLFLOW_WORKERS" in proc.stderr


# A user's study of their own variant (issue 26): the variant is registered by a module the
# script imports, both in the job's --working-dir only; a3m is as installed on the nodes.
USER_FILES = {
    "my_variants.py": '''"""A variant of mine, registered from outside a3m."""
from a3m.models import A3M, register_variant


class HalfA3M(A3M):
    """A3M on half the shared feature map."""

    def forward_features(self, x):
        return 0.5 * super().forward_features(x)


register_variant("half_a3m", HalfA3M, region_attention=True, attribute_attention=True)
''',
    "my_study.py": '''"""My variant, two seeds."""
import my_variants  # noqa: F401  (registers half_a3m)
from a3m.study import StudySpec, main

main(StudySpec("my_study", "half_a3m", base={"dataset": "cub"}, grid={"variant": ["half_a3m"]}))
''',
}


@pytest.mark.slow
def test_a_users_variant_reaches_the_workers_from_the_jobs_working_dir(
    cluster: dict[str, str], as_user: Login, tmp_path: Path
) -> None:
    for name, text in USER_FILES.items():
        (tmp_path / name).write_text(text)
    _submit_study(cluster, tmp_path, "my_study.py", "--epochs", "1", "--seeds", "2", name="-mine")
    client = _admin(cluster, as_user)
    experiment = client.get_experiment_by_name("my_study-synthetic")
    runs = client.search_runs([experiment.experiment_id])
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 2
    for run in children:
        assert run.info.status == "FINISHED", run.data.tags.get("a3m.error")
        assert run.data.params["variant"] == "half_a3m"
        assert run.data.params["plugins"] == "my_variants"
        assert run.data.tags["a3m.variant_module"] == "my_variants"
        assert run.data.tags["a3m.plugin_code"].startswith("my_variants@")
    # a worker of the cluster (a trial this short may leave one of the nodes idle) imported it
    assert {run.data.tags["a3m.ray_node_id"] for run in children} <= _alive_nodes(cluster)
