// Builds the upstream etcd server (its root package is the etcd command). Kept apart from the
// Kubernetes module so that version selection does not move Kubernetes' etcd client libraries.
module imageops.dev/sandbox/control-plane/etcd

go 1.26.0

require go.etcd.io/etcd/server/v3 v3.6.16
