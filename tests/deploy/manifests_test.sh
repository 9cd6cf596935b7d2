#!/usr/bin/env bash
# Checks what can be checked here of the container and cluster manifests
# (there is no Docker engine or cluster on this machine):
#   - every YAML file under deploy/docker and deploy/k8s parses (PyYAML), and
#     Kubernetes objects have apiVersion, kind and metadata.name;
#   - `kubectl kustomize deploy/k8s` builds, and every ConfigMap the pods
#     mount exists;
#   - the configs in the ConfigMap are accepted by the binaries, together with
#     the flags the pods add;
#   - the compose services' commands are accepted by the binaries.
# Parts whose tool is missing are skipped with a note; exit 77 if none ran.
# Env: FEDPRESS_BIN_DIR, FEDPRESS_SOURCE_DIR (set by ctest).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
BIN=${FEDPRESS_BIN_DIR:?}
SRC=${FEDPRESS_SOURCE_DIR:?}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
ran=0

if python3 -c 'import yaml' 2>/dev/null; then
  python3 - "$SRC" "$T" <<'PY'
import glob, os, sys, yaml
src, out = sys.argv[1], sys.argv[2]
files = sorted(glob.glob(f"{src}/deploy/k8s/*.yaml") + glob.glob(f"{src}/deploy/docker/*.yaml"))
assert len(files) >= 5, f"expected the k8s and compose files, found {files}"
objects = []
for f in files:
    with open(f) as fh:
        docs = [d for d in yaml.safe_load_all(fh) if d is not None]
    assert docs, f"{f}: empty"
    if f.endswith("compose.yaml") or f.endswith("kustomization.yaml"):
        continue
    for d in docs:
        for key in ("apiVersion", "kind"):
            assert key in d, f"{f}: object without {key}"
        assert d.get("metadata", {}).get("name"), f"{f}: {d['kind']} without metadata.name"
        objects.append(d)
kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
for need in [("StatefulSet", "fedpress-server"), ("DaemonSet", "fedpress-client"),
             ("Service", "fedpress-server"), ("ConfigMap", "fedpress-config")]:
    assert need in kinds, f"missing {need}"
# Every ConfigMap/Secret a pod mounts exists, with the keys it mounts.
by_name = {(o["kind"], o["metadata"]["name"]): o for o in objects}
for o in objects:
    if o["kind"] not in ("StatefulSet", "Deployment", "DaemonSet"):
        continue
    spec = o["spec"]["template"]["spec"]
    vols = {v["name"]: v for v in spec.get("volumes", [])}
    claims = {c["metadata"]["name"] for c in o["spec"].get("volumeClaimTemplates", [])}
    for c in spec["containers"]:
        for m in c.get("volumeMounts", []):
            assert m["name"] in vols or m["name"] in claims, f"{o['metadata']['name']}: volume {m['name']} undefined"
            v = vols.get(m["name"], {})
            for kind, field, keyfield in (("ConfigMap", "configMap", "name"), ("Secret", "secret", "secretName")):
                if field in v:
                    ref = v[field][keyfield]
                    assert (kind, ref) in by_name, f"{o['metadata']['name']}: {kind} {ref} not defined"
                    data = by_name[(kind, ref)].get("data", {}) or by_name[(kind, ref)].get("stringData", {})
                    if "subPath" in m:
                        assert m["subPath"] in data, f"{kind} {ref} has no key {m['subPath']}"
        # The command a pod runs, for the binaries check below: its config
        # files are the ConfigMap's, extracted to `out`.
        argv = [a.replace("/etc/fedpress/", f"{out}/cm-").replace("$(POD_NAME)", "fedpress-client-abc12")
                for a in c["command"] + c.get("args", [])]
        with open(f"{out}/cmd-{o['metadata']['name']}", "w") as fh:
            fh.write("\n".join(argv) + "\n")
cm = by_name[("ConfigMap", "fedpress-config")]["data"]
for key, text in cm.items():
    with open(f"{out}/cm-{key}", "w") as fh:
        fh.write(text)
with open(f"{src}/deploy/docker/compose.yaml") as fh:
    compose = yaml.safe_load(fh)
assert "server" in compose["services"] and any(n.startswith("client") for n in compose["services"])
for name, svc in compose["services"].items():
    with open(f"{out}/compose-{name}", "w") as fh:
        # compose runs the configs installed in the image: deploy/config/ is their source.
        fh.write("\n".join(a.replace("/etc/fedpress/", f"{src}/deploy/config/") for a in svc["command"]) + "\n")
print(f"ok: {len(files)} YAML files parse; {len(objects)} Kubernetes objects consistent")
PY
  ran=1
  # The configs and commands are accepted by the binaries (one argument per line).
  for f in "$T"/cmd-* "$T"/compose-*; do
    mapfile -t argv < "$f"
    exe="${argv[0]}"
    "$BIN/$exe" "${argv[@]:1}" --print-config > "$T/out" 2> "$T/err" \
      || fail "$(basename "$f"): $exe ${argv[*]:1} refused: $(cat "$T/err")"
  done
  pass "pod and compose commands, with their configs, accepted by the binaries"
else
  echo "NOTE: python3 with PyYAML not found: YAML checks skipped"
fi

if command -v kubectl >/dev/null; then
  kubectl kustomize "$SRC/deploy/k8s" > "$T/k8s.yaml" 2> "$T/k8s.err" || fail "kubectl kustomize: $(cat "$T/k8s.err")"
  grep -q '^kind: StatefulSet' "$T/k8s.yaml" || fail "kustomize output has no StatefulSet"
  grep -q 'namespace: fedpress' "$T/k8s.yaml" || fail "kustomize did not set the namespace"
  pass "kubectl kustomize deploy/k8s"
  ran=1
else
  echo "NOTE: kubectl not found: kustomize build skipped"
fi

[ "$ran" = 1 ] || { echo "SKIP: neither PyYAML nor kubectl available"; exit 77; }
echo "deploy_manifests: all checks passed"
