"""deploy/k8s cannot be applied here; these checks hold it to the architecture.

Most checks read the YAML directly (a kustomization's `resources`, followed
recursively; patches are not applied), so they run without any tool. The checks of
what the overlays' patches produce and the kubeconform run need the binaries that
scripts/k8s-validate installs (scripts/test runs it first); without them those
tests are skipped and say so.
"""

from __future__ import annotations

import copy
import functools
import importlib
import importlib.util
import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from mianshen_shared.config import REPO_ROOT
from mianshen_shared.stack import DEFAULT_PORTS, SERVICES
from mianshen_shared.topics import TOPICS, physical

pytestmark = pytest.mark.unit

K8S = REPO_ROOT / "deploy" / "k8s"
PLATFORM = ("gateway", *SERVICES)
HPA_SERVICES = {"gateway", "eligibility", "confirmation", "credit-check"}
SETTINGS = {
    "gateway": "gateway.config",
    "policy-catalog": "policy_catalog.config",
    "eligibility": "eligibility.config",
    "confirmation": "confirmation.config",
    "credit-check": "credit_check.config",
    "payment": "payment.config",
}
DOCKERFILES = {
    **{svc: REPO_ROOT / "services" / svc / "Dockerfile" for svc in SERVICES},
    "gateway": REPO_ROOT / "gateway" / "Dockerfile",
    "finance-sim": REPO_ROOT / "deploy" / "local" / "finance-sim" / "Dockerfile",
    "frontend-sim": REPO_ROOT / "deploy" / "local" / "frontend-sim" / "Dockerfile",
}
SIMULATORS = ("finance-sim", "frontend-sim")


LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_all(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.load_all(text, Loader=LOADER) if doc]


@functools.cache
def _resources(kustomization_dir: Path) -> list[dict[str, Any]]:
    spec = yaml.load((kustomization_dir / "kustomization.yaml").read_text("utf-8"), Loader=LOADER)
    docs: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        path = (kustomization_dir / entry).resolve()
        docs.extend(_resources(path) if path.is_dir() else load_all(path.read_text("utf-8")))
    return docs


def resources(kustomization_dir: Path) -> list[dict[str, Any]]:
    """The resources a kustomization lists, recursively, before patches and generators."""
    return copy.deepcopy(_resources(kustomization_dir.resolve()))


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def overlay(env: str) -> list[dict[str, Any]]:
    """Everything one environment applies: infra, migrations and apps."""
    root = K8S / "overlays" / env
    return resources(root / "infra") + resources(root / "migrations") + resources(root)


def env_file(name: str) -> dict[str, str]:
    text = (K8S / "base" / "apps" / "config" / f"{name}.env").read_text("utf-8")
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"]["labels"]  # type: ignore[no-any-return]


# --- a small NetworkPolicy evaluator: pods of one namespace, label selectors only ---------


@dataclass(frozen=True)
class Pod:
    labels: dict[str, str]
    ports: dict[str, int]  # named container ports


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        value, op = labels.get(expr["key"]), expr["operator"]
        if (op == "In" and value not in expr["values"]) or (op == "Exists" and value is None):
            return False
    return True


def peer_matches(peer: dict[str, Any], pod: Pod) -> bool:
    # Peers in other namespaces (namespaceSelector, ipBlock) are not pods of ours.
    return "namespaceSelector" not in peer and "ipBlock" not in peer and selects(peer["podSelector"], pod.labels)


def port_matches(rule: dict[str, Any], target: Pod, port: int) -> bool:
    wanted = rule.get("ports")
    if not wanted:
        return True
    return any(p["port"] == port or target.ports.get(str(p["port"])) == port for p in wanted)


def allowed(policies: list[dict[str, Any]], src: Pod, dst: Pod, port: int) -> bool:
    def direction(kind: str, subject: Pod, other: Pod, key: str, peer_key: str) -> bool:
        applying = [
            p
            for p in policies
            if kind in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], subject.labels)
        ]
        assert applying, f"no {kind} policy selects {subject.labels}: deny-by-default is missing"
        return any(
            port_matches(rule, dst, port) and any(peer_matches(peer, other) for peer in rule.get(peer_key, []))
            for policy in applying
            for rule in policy["spec"].get(key, [])
        )

    return direction("Egress", src, dst, "egress", "to") and direction("Ingress", dst, src, "ingress", "from")


def pods(docs: list[dict[str, Any]]) -> dict[str, Pod]:
    out = {}
    for kind in ("Deployment", "Job"):
        for name, workload in of_kind(docs, kind).items():
            ports = {
                p["name"]: p["containerPort"] for c in pod_spec(workload)["containers"] for p in c.get("ports", [])
            }
            out[name] = Pod(pod_labels(workload), ports)
    out["kafka"] = Pod({"strimzi.io/cluster": "mianshen", "strimzi.io/broker-role": "true"}, {})
    for svc in PLATFORM:
        out[f"{svc}-db"] = Pod({"cnpg.io/cluster": f"{svc}-db"}, {})
    return out


# --- workloads ------------------------------------------------------------------------------


def workloads() -> Iterator[tuple[str, dict[str, Any]]]:
    docs = overlay("dev")
    for kind in ("Deployment", "Job"):
        for name, doc in of_kind(docs, kind).items():
            yield f"{kind}/{name}", doc


WORKLOADS = dict(workloads())


def test_every_platform_process_has_a_deployment_and_a_service() -> None:
    docs = resources(K8S / "base" / "apps")
    assert set(of_kind(docs, "Deployment")) == set(PLATFORM)
    for name, service in of_kind(docs, "Service").items():
        assert service["spec"]["ports"][0]["port"] == DEFAULT_PORTS[name]
        assert service["spec"]["selector"] == of_kind(docs, "Deployment")[name]["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize("name", SIMULATORS)
def test_each_simulator_runs_only_in_dev(name: str) -> None:
    assert name in of_kind(overlay("dev"), "Deployment")
    assert name not in of_kind(overlay("prod"), "Deployment")


def test_every_database_service_has_a_migration_job_that_runs_its_alembic_migrations() -> None:
    jobs = of_kind(resources(K8S / "base" / "migrations"), "Job")
    assert set(jobs) == {f"{svc}-migrate" for svc in PLATFORM}
    for svc in PLATFORM:
        container = pod_spec(jobs[f"{svc}-migrate"])["containers"][0]
        assert container["command"] == ["python", "-m", "mianshen_shared.migrate", svc]
        assert container["image"] == f"mianshen/{svc}"
        assert pod_labels(jobs[f"{svc}-migrate"])["app.kubernetes.io/component"] == "migration"


def test_the_migration_command_brings_a_database_to_the_newest_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mianshen_shared import migrate

    db_file = tmp_path / "credit_check.sqlite"
    monkeypatch.setenv("MIANSHEN_DATABASE_URL", f"sqlite+aiosqlite:///{db_file}")
    migrate.main(["credit-check"])
    import sqlite3

    tables = {row[0] for row in sqlite3.connect(db_file).execute("select name from sqlite_master where type='table'")}
    assert {"alembic_version", "outbox", "processed_events"} <= tables
    assert set(migrate.MIGRATIONS) == set(PLATFORM)


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_each_workload_runs_hardened(name: str) -> None:
    spec = pod_spec(WORKLOADS[name])
    assert spec["automountServiceAccountToken"] is False
    pod_ctx = spec["securityContext"]
    assert pod_ctx["runAsNonRoot"] is True
    assert pod_ctx["runAsUser"] == 10001
    assert pod_ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    tmp_volumes = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
    for container in spec["containers"]:
        ctx = container["securityContext"]
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["readOnlyRootFilesystem"] is True
        assert ctx["capabilities"] == {"drop": ["ALL"]}
        assert {m["mountPath"]: m["name"] for m in container["volumeMounts"]}["/tmp"] in tmp_volumes
        assert set(container["resources"]) == {"requests", "limits"}
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert "memory" in container["resources"]["limits"]


@pytest.mark.parametrize("name", [*PLATFORM, *SIMULATORS])
def test_each_server_is_probed_for_startup_liveness_and_readiness(name: str) -> None:
    container = pod_spec(WORKLOADS[f"Deployment/{name}"])["containers"][0]
    ready_path = "/healthz" if name in SIMULATORS else "/readyz"  # the simulators have no dependencies
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == ready_path
    assert container["ports"] == [{"name": "http", "containerPort": DEFAULT_PORTS[name]}]


# --- configuration and secrets --------------------------------------------------------------


@pytest.mark.parametrize("name", PLATFORM)
def test_each_service_starts_with_the_configuration_it_is_given(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    container = pod_spec(WORKLOADS[f"Deployment/{name}"])["containers"][0]
    env = {**env_file("common"), **env_file(name)}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = re.sub(r"\$\((\w+)\)", "secret", var["value"])
        elif "secretKeyRef" in var.get("valueFrom", {}):
            env[var["name"]] = "secret"
    settings_cls = importlib.import_module(SETTINGS[name]).Settings
    for key in env:
        if key.startswith("MIANSHEN_"):
            assert key.removeprefix("MIANSHEN_").lower() in settings_cls.model_fields, f"{name} has no setting {key}"
    for key in list(settings_cls.model_fields):
        monkeypatch.delenv(f"MIANSHEN_{key.upper()}", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = settings_cls()
    assert settings.kafka_bootstrap == "mianshen-kafka-bootstrap:9092"
    if name != "gateway":
        assert settings.environment == "production"
        assert settings.database_url == f"postgresql+asyncpg://secret:secret@{name}-db-rw:5432/{name.replace('-', '_')}"


def test_gateway_reaches_each_service_at_its_kubernetes_address() -> None:
    gateway = env_file("gateway")
    for svc in SERVICES:
        assert gateway[f"MIANSHEN_{svc.upper().replace('-', '_')}_URL"] == f"http://{svc}:{DEFAULT_PORTS[svc]}"


def test_no_secret_value_is_committed_and_every_referenced_secret_has_an_origin() -> None:
    docs = overlay("prod") + overlay("dev")
    assert not [doc for doc in docs if doc["kind"] == "Secret"]
    text = "\n".join(yaml.safe_dump(doc) for doc in docs)
    referenced = set(re.findall(r"secretKeyRef:\n\s+key: \w+\n\s+name: ([\w-]+)", text))
    referenced |= set(re.findall(r"accessKeyId:\n\s+key: \w+\n\s+name: ([\w-]+)", text))
    generated_by_cnpg = {f"{svc}-db-app" for svc in PLATFORM}
    example = yaml.safe_load_all((K8S / "secrets.yaml.example").read_text("utf-8"))
    documented = {doc["metadata"]["name"] for doc in example if doc}
    assert generated_by_cnpg <= referenced
    assert referenced - generated_by_cnpg == documented


# --- Kafka and PostgreSQL -------------------------------------------------------------------


def test_kafka_topics_file_is_rendered_from_topics_py() -> None:
    spec = importlib.util.spec_from_file_location("kafka_topics", K8S / "tools" / "kafka_topics.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.TARGET.read_text("utf-8") == module.render(), "run deploy/k8s/tools/kafka_topics.py"


def test_every_declared_topic_is_a_kafka_topic_with_its_partitions_and_retention() -> None:
    topics = {
        doc["spec"]["topicName"]: doc["spec"]
        for doc in of_kind(resources(K8S / "base" / "infra"), "KafkaTopic").values()
    }
    assert set(topics) == {physical(name, "") for name in TOPICS}
    for spec in TOPICS.values():
        declared = topics[physical(spec.name, "")]
        assert declared["partitions"] == spec.partitions
        assert declared["config"]["retention.ms"] == spec.retention_ms
    assert topics[physical("dead-letter", "")]["config"]["retention.ms"] >= 8 * 7 * 24 * 3600 * 1000


def test_each_database_service_has_its_own_postgres_cluster_with_daily_backups() -> None:
    docs = resources(K8S / "base" / "infra")
    clusters, backups = of_kind(docs, "Cluster"), of_kind(docs, "ScheduledBackup")
    assert set(clusters) == {f"{svc}-db" for svc in PLATFORM}
    for svc in PLATFORM:
        initdb = clusters[f"{svc}-db"]["spec"]["bootstrap"]["initdb"]
        assert initdb == {"database": svc.replace("-", "_"), "owner": svc.replace("-", "_")}
        assert backups[f"{svc}-db-daily"]["spec"]["cluster"] == {"name": f"{svc}-db"}


# --- network policies -----------------------------------------------------------------------


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_network_denies_by_default_and_every_workload_has_its_own_policy(env: str) -> None:
    docs = overlay(env)
    policies = list(of_kind(docs, "NetworkPolicy").values())
    deny = of_kind(docs, "NetworkPolicy")["default-deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    for name, pod in pods(docs).items():
        specific = [p for p in policies if p["spec"]["podSelector"] and selects(p["spec"]["podSelector"], pod.labels)]
        assert specific, f"{name} is selected only by namespace-wide policies"


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_network_allows_the_paths_of_the_architecture(env: str) -> None:
    docs = overlay(env)
    policies = list(of_kind(docs, "NetworkPolicy").values())
    p = pods(docs)
    for svc in SERVICES:
        assert allowed(policies, p["gateway"], p[svc], DEFAULT_PORTS[svc])
        assert allowed(policies, p[svc], p[f"{svc}-db"], 5432)
        assert allowed(policies, p[f"{svc}-migrate"], p[f"{svc}-db"], 5432)
        assert allowed(policies, p[svc], p["kafka"], 9092)
    assert allowed(policies, p["gateway"], p["kafka"], 9092)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_network_blocks_paths_the_architecture_does_not_use(env: str) -> None:
    docs = overlay(env)
    policies = list(of_kind(docs, "NetworkPolicy").values())
    p = pods(docs)
    assert not allowed(policies, p["eligibility"], p["payment"], DEFAULT_PORTS["payment"])
    assert not allowed(policies, p["eligibility"], p["payment-db"], 5432)
    assert not allowed(policies, p["gateway"], p["payment-db"], 5432)
    assert not allowed(policies, p["payment-migrate"], p["kafka"], 9092)
    assert not allowed(policies, p["payment"], p["gateway"], DEFAULT_PORTS["gateway"])


def test_only_the_gateway_reaches_redis_and_its_own_database() -> None:
    docs = overlay("dev")
    policies = list(of_kind(docs, "NetworkPolicy").values())
    p = pods(docs)
    assert allowed(policies, p["gateway"], p["redis"], 6379)
    assert allowed(policies, p["gateway"], p["gateway-db"], 5432)
    assert allowed(policies, p["gateway-migrate"], p["gateway-db"], 5432)
    assert not allowed(policies, p["payment"], p["redis"], 6379)
    assert not allowed(policies, p["payment"], p["gateway-db"], 5432)
    assert not allowed(policies, p["gateway"], p["payment-db"], 5432)


def test_only_payment_reaches_the_finance_system() -> None:
    dev = overlay("dev")
    policies = list(of_kind(dev, "NetworkPolicy").values())
    p = pods(dev)
    assert allowed(policies, p["payment"], p["finance-sim"], 8090)
    assert not allowed(policies, p["eligibility"], p["finance-sim"], 8090)
    prod = of_kind(overlay("prod"), "NetworkPolicy")["payment-to-finance"]["spec"]
    assert prod["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "payment"
    assert [peer["ipBlock"] for rule in prod["egress"] for peer in rule["to"]]


def test_only_confirmation_reaches_the_front_ends() -> None:
    dev = overlay("dev")
    policies = list(of_kind(dev, "NetworkPolicy").values())
    p = pods(dev)
    assert allowed(policies, p["confirmation"], p["frontend-sim"], DEFAULT_PORTS["frontend-sim"])
    assert not allowed(policies, p["payment"], p["frontend-sim"], DEFAULT_PORTS["frontend-sim"])
    prod = of_kind(overlay("prod"), "NetworkPolicy")["confirmation-to-frontends"]["spec"]
    assert prod["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "confirmation"
    assert [peer["ipBlock"] for rule in prod["egress"] for peer in rule["to"]]


# --- production overlay ---------------------------------------------------------------------


def test_production_autoscales_the_stateless_services_and_budgets_disruptions_for_all() -> None:
    docs = resources(K8S / "overlays" / "prod")
    hpas = of_kind(docs, "HorizontalPodAutoscaler")
    assert set(hpas) == HPA_SERVICES
    for name, hpa in hpas.items():
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert hpa["spec"]["minReplicas"] >= 2
    # Consumers beyond the partition count would sit idle.
    partitions = max(spec.partitions for spec in TOPICS.values())
    assert all(hpas[name]["spec"]["maxReplicas"] <= partitions for name in HPA_SERVICES - {"gateway"})
    pdbs = of_kind(docs, "PodDisruptionBudget")
    assert set(pdbs) == set(PLATFORM)
    for name, pdb in pdbs.items():
        assert selects(pdb["spec"]["selector"], pod_labels(of_kind(docs, "Deployment")[name]))


# --- images ---------------------------------------------------------------------------------


def test_compose_services_dockerfiles_and_the_local_stack_name_the_same_processes() -> None:
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text("utf-8"))["services"]
    built = {name: svc["build"]["dockerfile"] for name, svc in compose.items() if "build" in svc}
    assert set(built) == set(DOCKERFILES) == set(DEFAULT_PORTS)
    for name, dockerfile in built.items():
        assert REPO_ROOT / dockerfile == DOCKERFILES[name]
        assert compose[name]["image"] == f"mianshen/{name}:dev"
        assert compose[name]["read_only"] is True


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_each_dockerfile_is_multi_stage_non_root_and_serves_its_port(name: str) -> None:
    text = DOCKERFILES[name].read_text("utf-8")
    assert re.findall(r"^FROM (\S+)", text, re.M) == ["python:3.11-slim", "python:3.11-slim"]
    assert "uv sync --frozen --no-dev" in text
    assert re.search(r"^USER 10001", text, re.M)
    assert f'"--port", "{DEFAULT_PORTS[name]}"' in text
    others = {"services/" + s for s in SERVICES if s != name} | ({"gateway/src"} - {f"{name}/src"})
    copied = re.findall(r"^COPY (?!--from)(\S+)", text, re.M)
    assert not [src for src in copied if any(src.startswith(o) for o in others)], "copies another service's code"


# --- the rendered overlays (needs the tools scripts/k8s-validate installs) -------------------

VALIDATE = (REPO_ROOT / "scripts" / "k8s-validate").read_text("utf-8")
VERSIONS = dict(re.findall(r"^(\w+_VERSION)=(\S+)$", VALIDATE, re.M))
CACHE = Path(os.environ.get("MIANSHEN_CACHE") or Path.home() / ".cache" / "mianshen")
KUSTOMIZE = CACHE / "bin" / f"kustomize-{VERSIONS['KUSTOMIZE_VERSION']}"
KUBECONFORM = CACHE / "bin" / f"kubeconform-{VERSIONS['KUBECONFORM_VERSION']}"
SCHEMAS = sorted((CACHE / "k8s-schemas").glob(f"k8s-{VERSIONS['K8S_VERSION']}-*"))
needs_tools = pytest.mark.skipif(
    not (KUSTOMIZE.exists() and KUBECONFORM.exists() and SCHEMAS),
    reason="kustomize/kubeconform/schemas not in ~/.cache/mianshen: run scripts/k8s-validate once",
)


@functools.cache
def _build(kustomization: str) -> str:
    return subprocess.run(
        [str(KUSTOMIZE), "build", str(K8S / "overlays" / kustomization)], capture_output=True, text=True, check=True
    ).stdout


def build(kustomization: str) -> list[dict[str, Any]]:
    return load_all(_build(kustomization))


@needs_tools
def test_production_runs_at_least_two_replicas_of_everything_from_pinned_images() -> None:
    apps, jobs = build("prod"), build("prod/migrations")
    hpas = of_kind(apps, "HorizontalPodAutoscaler")
    tags = set()
    for name, deployment in of_kind(apps, "Deployment").items():
        replicas = hpas[name]["spec"]["minReplicas"] if name in hpas else deployment["spec"]["replicas"]
        assert replicas >= 2, name
        assert "replicas" not in deployment["spec"] or name not in hpas, f"{name}: HPA and a fixed count fight"
        tags.add(pod_spec(deployment)["containers"][0]["image"].rsplit(":", 1)[1])
    tags |= {pod_spec(job)["containers"][0]["image"].rsplit(":", 1)[1] for job in of_kind(jobs, "Job").values()}
    assert len(tags) == 1 and tags.isdisjoint({"latest", "dev"})


@needs_tools
def test_dev_points_payment_at_the_simulator_and_keeps_no_backups() -> None:
    apps, infra = build("dev"), build("dev/infra")
    payment_config = next(doc for name, doc in of_kind(apps, "ConfigMap").items() if name.startswith("payment-config"))
    assert payment_config["data"]["MIANSHEN_FINANCE_URL"] == "http://finance-sim:8090"
    assert not of_kind(infra, "ScheduledBackup")
    assert {d["spec"]["replicas"] for d in of_kind(infra, "KafkaTopic").values()} == {1}


@needs_tools
def test_dev_points_confirmation_at_the_front_end_simulator() -> None:
    configs = of_kind(build("dev"), "ConfigMap")
    config = next(doc for name, doc in configs.items() if name.startswith("confirmation-config"))
    sim = f"http://frontend-sim:{DEFAULT_PORTS['frontend-sim']}"
    assert json.loads(config["data"]["MIANSHEN_FRONTEND_URLS"]) == {
        "qinqing": f"{sim}/qinqing",
        "zhenghaoban": f"{sim}/zhenghaoban",
    }


@needs_tools
def test_kubeconform_accepts_every_overlay_and_rejects_a_broken_manifest(tmp_path: Path) -> None:
    schemas = SCHEMAS[-1]
    command = [
        str(KUBECONFORM),
        "-strict",
        "-summary",
        "-kubernetes-version",
        VERSIONS["K8S_VERSION"],
        "-schema-location",
        f"{schemas}/{{{{.ResourceKind}}}}{{{{.KindSuffix}}}}.json",
        "-schema-location",
        f"{schemas}/{{{{.Group}}}}/{{{{.ResourceKind}}}}_{{{{.ResourceAPIVersion}}}}.json",
    ]
    rendered = []
    for kustomization in ("dev/infra", "dev/migrations", "dev", "prod/infra", "prod/migrations", "prod"):
        rendered.append(tmp_path / f"{kustomization.replace('/', '-')}.yaml")
        rendered[-1].write_text(_build(kustomization), "utf-8")
    result = subprocess.run([*command, *map(str, rendered)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Invalid: 0, Errors: 0, Skipped: 0" in result.stdout
    broken = build("prod/infra")
    topic = next(doc for doc in broken if doc["kind"] == "KafkaTopic")
    topic["spec"]["partitons"] = 6
    cluster = next(doc for doc in broken if doc["kind"] == "Cluster")
    cluster["spec"]["instances"] = "three"
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump_all([topic, cluster]), "utf-8")
    result = subprocess.run([*command, str(tmp_path / "broken.yaml")], capture_output=True, text=True)
    assert result.returncode == 1
    assert "Invalid: 2" in result.stdout
