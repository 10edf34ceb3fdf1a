#!/usr/bin/env bash
# Builds the upstream control plane the sandbox runs (kube-apiserver, kube-controller-manager,
# kube-scheduler, etcd), kubectl and helm, and collects the upstream CRDs it installs, all from the Go module
# proxy. The result goes to a cache outside the repository, keyed by everything that decides it:
# a second run with the same inputs costs a hash and a few stat calls.
#
#   bash sandbox/control-plane/build.sh        prints the directory holding bin/ and crds/
#
# IMAGEOPS_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/imageops) moves the cache.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"

KUBERNETES_VERSION=v1.34.4
ETCD_VERSION=v3.6.16
HELM_VERSION=v4.3.2
ISTIO_API_VERSION=v1.30.8
GATEWAY_API_VERSION=v1.4.1
PROMETHEUS_OPERATOR_VERSION=v0.85.0

fail() { echo "control-plane build: $*" >&2; exit 1; }

command -v go >/dev/null || fail "needs Go (the go command) on PATH to build kube-apiserver, etcd and helm from source"

cache_root="${IMAGEOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imageops}/control-plane"
key="$( { go env GOVERSION GOARCH GOOS; cat "$0" "$here"/*/go.mod "$here"/*/go.sum; } | sha256sum | cut -c1-16)"
out="$cache_root/$KUBERNETES_VERSION-$key"

if [[ -f "$out/.complete" ]]; then
  touch "$out/.complete" # marks it in use, so that a build for other inputs does not prune it
  echo "$out"
  exit 0
fi

log() { echo "control-plane build: $*" >&2; }
mkdir -p "$cache_root"
work="$(mktemp -d "$cache_root/.build-XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/crds"

# Upstream release builds: static, trimmed, and without test-only code.
export CGO_ENABLED=0 GOFLAGS=-mod=readonly

kube_minor="${KUBERNETES_VERSION#v1.}"; kube_minor="${kube_minor%%.*}"
build_date="$(date -u -d @0 +%Y-%m-%dT%H:%M:%SZ)"
version_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  version_ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$kube_minor"
  version_ldflags+=" -X $pkg.gitCommit=0000000000000000000000000000000000000000 -X $pkg.gitTreeState=clean"
  version_ldflags+=" -X $pkg.buildDate=$build_date"
done

for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  log "building $cmd $KUBERNETES_VERSION"
  (cd "$here/kubernetes" && go build -trimpath -tags selinux,notest -ldflags "-s -w$version_ldflags" \
    -o "$work/bin/$cmd" "k8s.io/kubernetes/cmd/$cmd") || fail "building $cmd failed (output above)"
done

log "building etcd $ETCD_VERSION"
(cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$work/bin/etcd" go.etcd.io/etcd/server/v3) \
  || fail "building etcd failed (output above)"

log "building helm $HELM_VERSION"
(cd "$here/helm" && go build -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
  -o "$work/bin/helm" helm.sh/helm/v4/cmd/helm) || fail "building helm failed (output above)"

module_dir() {
  local dir
  dir="$(cd "$work" && GOFLAGS= go mod download -json "$1@$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -n "$dir" ]] || fail "could not download $1@$2 from the Go module proxy"
  echo "$dir"
}

log "collecting upstream CRDs"
istio="$(module_dir istio.io/api "$ISTIO_API_VERSION")"
cp "$istio/kubernetes/customresourcedefinitions.gen.yaml" "$work/crds/istio.yaml"
gateway="$(module_dir sigs.k8s.io/gateway-api "$GATEWAY_API_VERSION")"
# one file per CRD, without document separators: join them as separate documents
for f in "$gateway"/config/crd/standard/*.yaml; do echo '---'; cat "$f"; done > "$work/crds/gateway-api.yaml"
promop="$(module_dir github.com/prometheus-operator/prometheus-operator "$PROMETHEUS_OPERATOR_VERSION")"
cp "$promop/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" "$work/crds/servicemonitor.yaml"
chmod -R u+w "$work/crds"

"$work/bin/kube-apiserver" --version >/dev/null || fail "the built kube-apiserver does not run"
touch "$work/.complete"
rm -rf "$out"
mv "$work" "$out"
trap - EXIT
# Builds for other inputs are dead weight (each is about 400 MB) once nothing uses them: prune
# those unused for a day, never one another checkout's tests may be running on now.
for old in "$cache_root"/v*; do
  [[ "$old" == "$out" || ! -d "$old" ]] && continue
  if [[ ! -f "$old/.complete" ]] || [[ -n "$(find "$old/.complete" -mmin +1440)" ]]; then rm -rf "$old"; fi
done
log "built in $out"
echo "$out"
