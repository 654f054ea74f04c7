"""Offline checks of the deployments (issue 19): infra/kubernetes (a kustomization, and the
with-bridge overlay) and infra/compose/compose.yaml.

No cluster, no Docker engine and no kustomize binary are reachable here, so:
- every Kubernetes manifest is validated against the published Kubernetes JSON schemas (strict: no
  unknown fields) that the PyPI package kubernetes-validate ships inside it;
- the Compose file is validated against the Compose Specification schema that check-jsonschema
  (PyPI) ships (`vendor.compose-spec`);
- what `kustomize build` would resolve is checked by hand: every resource and generated file exists,
  every name a workload refers to is defined, selectors match their pods, probes hit real endpoints
  on a declared port, and every `MCP_EDGE_*` variable set is one the binary reads.
Both validators live in tests/.venv-infra (tests/requirements-infra.txt; tests/run-all.sh installs it)
and are also asked to reject a broken file, so a validator that accepts anything fails the suite."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
K8S = ROOT / "infra" / "kubernetes"
COMPOSE = ROOT / "infra" / "compose" / "compose.yaml"
DOCKERFILE = ROOT / "infra" / "container" / "Dockerfile"
VENV = ROOT / "tests" / ".venv-infra" / "bin"
KUBERNETES_VERSION = "1.33"
# Fields of a Kustomization this repository may use (kustomize's documented Kustomization fields).
KUSTOMIZATION_FIELDS = {"apiVersion", "kind", "namespace", "labels", "resources", "configMapGenerator",
                        "secretGenerator", "images", "patches", "replicas", "commonAnnotations"}


def tool(name: str) -> str:
    path = VENV / name
    assert path.exists(), f"{path} missing: tests/run-all.sh installs tests/requirements-infra.txt into tests/.venv-infra"
    return str(path)


def yaml_docs(path: pathlib.Path) -> list[dict]:
    """The YAML documents of `path`, parsed by PyYAML from the validators' venv (tests/.venv has none)."""
    out = subprocess.run(
        [tool("python"), "-c", "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d]))", str(path)],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    return json.loads(out)


def kustomization(directory: pathlib.Path) -> dict:
    (doc,) = yaml_docs(directory / "kustomization.yaml")
    return doc


def manifests(directory: pathlib.Path) -> list[pathlib.Path]:
    """Every manifest file a kustomization pulls in, through its bases."""
    found = []
    for entry in kustomization(directory)["resources"]:
        path = (directory / entry).resolve()
        if path.is_dir():
            found += manifests(path)
        else:
            found.append(path)
    return found


def objects(directory: pathlib.Path) -> list[dict]:
    return [doc for path in manifests(directory) for doc in yaml_docs(path)]


def settings_read() -> set[str]:
    binary = os.environ.get("MCP_EDGE_BIN", str(ROOT / "target" / "release" / "mcp-edge"))
    table = json.loads(subprocess.run([binary, "settings", "--json"], capture_output=True, text=True,
                                      timeout=60, check=True).stdout)
    return {s["var"] for s in table if "native" in s["targets"]}


@pytest.mark.parametrize("overlay", ["", "with-bridge", "with-redis"])
def test_kubernetes_manifests_match_the_published_schemas(overlay: str) -> None:
    files = manifests(K8S / overlay)
    assert len(files) >= 5
    out = subprocess.run([tool("kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSION, *map(str, files)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    for f in files:
        assert f"{f} passed" in out.stdout, f"{f} was not validated: {out.stdout}"


def test_the_validators_reject_broken_files(tmp_path: pathlib.Path) -> None:
    deployment = (K8S / "deployment.yaml").read_text().replace("replicas: 2", 'replicas: "two"')
    broken = tmp_path / "deployment.yaml"
    broken.write_text(deployment)
    out = subprocess.run([tool("kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSION, str(broken)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0, "a string replica count must be refused"
    unknown = tmp_path / "service.yaml"
    unknown.write_text((K8S / "service.yaml").read_text().replace("sessionAffinity:", "sessionAffinityy:"))
    out = subprocess.run([tool("kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSION, str(unknown)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0, "strict validation refuses an unknown field"
    compose = tmp_path / "compose.yaml"
    compose.write_text(COMPOSE.read_text().replace("restart: unless-stopped", "restart: [sometimes]", 1))
    out = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(compose)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0, "a list where Compose wants a string must be refused"


def test_kustomizations_resolve() -> None:
    """What `kustomize build` needs: known fields, existing files, and every referenced name defined."""
    for directory in (K8S, K8S / "with-bridge"):
        k = kustomization(directory)
        assert set(k) <= KUSTOMIZATION_FIELDS, set(k) - KUSTOMIZATION_FIELDS
        assert k["namespace"] == "mcp-edge"
        for gen in k.get("configMapGenerator", []):
            for f in gen.get("files", []):
                assert (directory / f).is_file(), f
            for literal in gen.get("literals", []):
                assert re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", literal), literal
    objs = objects(K8S / "with-bridge")
    generated = {g["name"] for d in (K8S, K8S / "with-bridge") for g in kustomization(d).get("configMapGenerator", [])}
    secrets = {o["metadata"]["name"] for o in objs if o["kind"] == "Secret"}
    for dep in (o for o in objs if o["kind"] == "Deployment"):
        pod = dep["spec"]["template"]["spec"]
        for c in pod["containers"]:
            for source in c.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in generated
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in secrets
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] in secrets
        for v in pod.get("volumes", []):
            if "configMap" in v:
                assert v["configMap"]["name"] in generated
    images = {i["name"] for d in (K8S, K8S / "with-bridge") for i in kustomization(d).get("images", [])}
    used = {c["image"] for o in objs if o["kind"] == "Deployment" for c in o["spec"]["template"]["spec"]["containers"]}
    assert used <= images, f"images without a kustomize entry to point them at a registry: {used - images}"


def test_workloads_are_wired_and_probed() -> None:
    objs = objects(K8S / "with-bridge")
    by_kind: dict[str, list[dict]] = {}
    for o in objs:
        by_kind.setdefault(o["kind"], []).append(o)
    assert {"Namespace", "Secret", "Deployment", "Service", "PodDisruptionBudget"} <= set(by_kind)
    deployments = {d["metadata"]["name"]: d for d in by_kind["Deployment"]}
    assert set(deployments) == {"mcp-edge", "mcp-edge-bridge"}
    for dep in deployments.values():
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
        pod = dep["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["terminationGracePeriodSeconds"] > 20, "longer than MCP_EDGE_SHUTDOWN_GRACE (20 s)"
        for c in pod["containers"]:
            ports = {p["name"]: p["containerPort"] for p in c["ports"]}
            assert ports == {"http": 8787}
            assert c["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
            assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
            # The deep check answers within MCP_EDGE_HEALTH_BUDGET (2 s): the probe waits longer.
            assert c["readinessProbe"]["timeoutSeconds"] > 2
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][kind]), (c["name"], kind)
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
    for svc in by_kind["Service"]:
        matches = [d for d in deployments.values() if svc["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert len(matches) == 1, svc["metadata"]["name"]
        assert svc["spec"]["ports"][0]["targetPort"] == "http"
    (pdb,) = by_kind["PodDisruptionBudget"]
    gateway = deployments["mcp-edge"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= gateway["spec"]["template"]["metadata"]["labels"].items()
    assert pdb["spec"]["maxUnavailable"] < gateway["spec"]["replicas"], "one replica always serves"
    # The overlay points the gateway at the bridge's Service.
    (merge,) = [g for g in kustomization(K8S / "with-bridge")["configMapGenerator"] if g["name"] == "mcp-edge-settings"]
    assert merge["behavior"] == "merge"
    assert "MCP_EDGE_BRIDGE_URL=http://mcp-edge-bridge:8787" in merge["literals"]
    assert any(s["metadata"]["name"] == "mcp-edge-bridge" for s in by_kind["Service"])


def test_every_variable_set_is_one_the_binary_reads() -> None:
    read = settings_read()
    upstream = {"JIRA_URL", "JIRA_EMAIL", "JIRA_API_TOKEN", "GITLAB_API_URL", "GITLAB_TOKEN"}
    names: set[str] = set()
    for d in (K8S, K8S / "with-bridge"):
        for g in kustomization(d).get("configMapGenerator", []):
            names |= {lit.split("=", 1)[0] for lit in g.get("literals", [])}
    for o in objects(K8S / "with-bridge"):
        if o["kind"] == "Secret":
            names |= set(o["stringData"])
        if o["kind"] == "Deployment":
            for c in o["spec"]["template"]["spec"]["containers"]:
                names |= {e["name"] for e in c.get("env", [])}
    (compose,) = yaml_docs(COMPOSE)
    for svc in ("gateway", "bridge"):
        names |= set(compose["services"][svc]["environment"])
    unknown = sorted(n for n in names if n not in read and n not in upstream)
    assert not unknown, f"set by the deployments but not read by mcp-edge: {unknown}"


def test_compose_matches_the_compose_spec_and_its_parts_exist() -> None:
    out = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    (compose,) = yaml_docs(COMPOSE)
    services = compose["services"]
    assert set(services) == {"gateway", "bridge", "redis"}
    targets = set(re.findall(r"^FROM \S+ AS (\S+)$", DOCKERFILE.read_text(), re.M))
    for name in ("gateway", "bridge"):
        build = services[name]["build"]
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
        assert build["target"] in targets
        assert services[name]["healthcheck"]["test"] == ["CMD", "/usr/local/bin/mcp-edge", "health"]
    assert services["gateway"]["environment"]["MCP_EDGE_BRIDGE_URL"] == "http://bridge:8787"
    assert services["gateway"]["depends_on"]["bridge"]["condition"] == "service_healthy"
    assert services["gateway"]["ports"] == ["127.0.0.1:8787:8787"], "published on loopback only"
    config = (COMPOSE.parent / compose["configs"]["bridge-config"]["file"]).resolve()
    assert config.is_file()
    # The bridged server's command is the one the bridge-example image installs, at the version the
    # bridge tests run.
    servers = tomllib.loads(config.read_text())["servers"]
    pin = (ROOT / "tests" / "requirements-stdio.txt").read_text().split("mcp-server-time==", 1)[1].split()[0]
    assert f"mcp-server-time=={pin}" in DOCKERFILE.read_text()
    assert servers["time"]["command"] == "/opt/stdio/bin/mcp-server-time"
    env_example = (COMPOSE.parent / ".env.example").read_text()
    for var in re.findall(r"\$\{(\w+):\?", COMPOSE.read_text()):
        assert f"\n{var}=" in "\n" + env_example, f"{var} missing from .env.example"


def json_patch(doc: dict, ops: list[dict]) -> dict:
    """Applies RFC 6902 `add`/`replace`/`remove` operations (what the overlays use) to a copy of `doc`,
    as kustomize would; a path that does not exist fails, as it would there."""
    doc = json.loads(json.dumps(doc))
    for op in ops:
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        node = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if op["op"] == "add" and isinstance(node, list):
            node.insert(len(node) if last == "-" else int(last), op["value"])
        elif op["op"] in ("add", "replace"):
            if op["op"] == "replace":
                assert last in node, op
            node[last] = op["value"]
        elif op["op"] == "remove":
            del node[int(last) if isinstance(node, list) else last]
        else:
            raise AssertionError(f"unsupported patch operation {op}")
    return doc


def patched(directory: pathlib.Path) -> list[dict]:
    """The objects of an overlay with its JSON patches applied to their targets."""
    objs = objects(directory)
    for p in kustomization(directory).get("patches", []):
        ops = json.loads(subprocess.run([tool("python"), "-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))"],
                                        input=p["patch"], capture_output=True, text=True, timeout=60, check=True).stdout)
        hits = [i for i, o in enumerate(objs) if o["kind"] == p["target"]["kind"] and o["metadata"]["name"] == p["target"]["name"]]
        assert len(hits) == 1, p["target"]
        objs[hits[0]] = json_patch(objs[hits[0]], ops)
    return objs


def test_the_redis_overlay_lets_every_replica_serve_every_session(tmp_path: pathlib.Path) -> None:
    overlay = K8S / "with-redis"
    k = kustomization(overlay)
    assert set(k) <= KUSTOMIZATION_FIELDS and k["namespace"] == "mcp-edge"
    for r in k["resources"]:
        assert (overlay / r).exists(), r
    objs = patched(overlay)
    by_name = {(o["kind"], o["metadata"]["name"]): o for o in objs}
    # The patched objects still match the published schemas (strict).
    files = []
    for key in (("Service", "mcp-edge"), ("Deployment", "mcp-edge")):
        f = tmp_path / f"{key[0].lower()}.json"
        f.write_text(json.dumps(by_name[key]))
        files.append(str(f))
    out = subprocess.run([tool("kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSION, *files],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    # No client pinning once sessions are shared; the base still pins (its sessions are per pod).
    service = by_name[("Service", "mcp-edge")]["spec"]
    assert service["sessionAffinity"] == "None" and "sessionAffinityConfig" not in service
    (base_service,) = [o for o in objects(K8S) if o["kind"] == "Service"]
    assert base_service["spec"]["sessionAffinity"] == "ClientIP"
    # The gateway selects Redis and reads its URL and the shared fingerprint key from a Secret.
    (merge,) = [g for g in k["configMapGenerator"] if g["name"] == "mcp-edge-settings"]
    assert merge["behavior"] == "merge" and "MCP_EDGE_SESSION_STORE=redis" in merge["literals"]
    gateway = by_name[("Deployment", "mcp-edge")]["spec"]["template"]["spec"]["containers"][0]
    refs = [s["secretRef"]["name"] for s in gateway["envFrom"] if "secretRef" in s]
    assert refs == ["mcp-edge-secrets", "mcp-edge-store"], gateway["envFrom"]
    store = by_name[("Secret", "mcp-edge-store")]["stringData"]
    assert set(store) == {"MCP_EDGE_REDIS_URL", "MCP_EDGE_FINGERPRINT_KEY"}
    assert set(store) <= settings_read()
    # The URL names the Redis Service and its port; that Service selects the Redis pods only.
    url = re.fullmatch(r"redis://:(?P<pw>[^@]+)@(?P<host>[\w-]+):(?P<port>\d+)", store["MCP_EDGE_REDIS_URL"])
    assert url, store["MCP_EDGE_REDIS_URL"]
    redis_svc = by_name[("Service", url["host"])]
    assert redis_svc["spec"]["ports"][0]["port"] == int(url["port"])
    redis = by_name[("Deployment", "mcp-edge-redis")]
    assert redis_svc["spec"]["selector"].items() <= redis["spec"]["template"]["metadata"]["labels"].items()
    assert not redis_svc["spec"]["selector"].items() <= by_name[("Deployment", "mcp-edge")]["spec"]["template"]["metadata"]["labels"].items()
    # Redis requires the password of its own Secret, the one the URL carries.
    pod = redis["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"][-2:] == ["--requirepass", "$(REDIS_PASSWORD)"]
    (env,) = container["env"]
    ref = env["valueFrom"]["secretKeyRef"]
    assert by_name[("Secret", ref["name"])]["stringData"][ref["key"]] == url["pw"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert {"requests", "limits"} <= set(container["resources"])
    assert "--appendonly" in container["args"] and container["readinessProbe"]["exec"]["command"]
    # More than one gateway replica, and the disruption budget still keeps one serving.
    (count,) = k["replicas"]
    (pdb,) = [o for o in objs if o["kind"] == "PodDisruptionBudget"]
    assert count["name"] == "mcp-edge" and count["count"] > 1 and pdb["spec"]["maxUnavailable"] < count["count"]


def test_compose_keeps_the_gateways_sessions_in_its_redis() -> None:
    (compose,) = yaml_docs(COMPOSE)
    gateway, redis = compose["services"]["gateway"], compose["services"]["redis"]
    env = gateway["environment"]
    assert env["MCP_EDGE_SESSION_STORE"] == "redis"
    assert re.fullmatch(r"redis://:\$\{MCP_EDGE_REDIS_PASSWORD:\?[^}]*\}@redis:6379", env["MCP_EDGE_REDIS_URL"]), env["MCP_EDGE_REDIS_URL"]
    assert env["MCP_EDGE_FINGERPRINT_KEY"].startswith("${MCP_EDGE_FINGERPRINT_KEY:?")
    assert gateway["depends_on"]["redis"]["condition"] == "service_healthy"
    assert redis["command"][-2] == "--requirepass" and "MCP_EDGE_REDIS_PASSWORD" in redis["command"][-1]
    assert "ports" not in redis, "Redis is reached on the Compose network only"
    assert redis["environment"]["REDISCLI_AUTH"] == redis["command"][-1], "the health check authenticates"
