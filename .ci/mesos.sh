# Sourced by .ci/run (or by hand: `. .ci/mesos.sh`): install the official Mesos v1 .proto files that the
# Mesos tests validate every message against. Debian ships them inside the Go bindings (mesos-go) and
# gogo-protobuf; the tests compile them with grpcio-tools at test time.
apt-get install -y -qq golang-github-mesos-mesos-go-dev golang-github-gogo-protobuf-dev >/dev/null
test -f /usr/share/gocode/src/github.com/mesos/mesos-go/api/v1/lib/scheduler/scheduler.proto
