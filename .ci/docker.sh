# Sourced by .ci/run (or by hand: `. .ci/docker.sh`): install the Docker engine and the static busybox
# the Docker runtime mounts into containers (and builds its test images from), start dockerd unless it
# already runs, and wait until it answers.
apt-get install -y -qq docker.io busybox-static >/dev/null
if ! docker version >/dev/null 2>&1; then
  dockerd >/tmp/dockerd.log 2>&1 &
fi
for _ in $(seq 60); do
  docker version >/dev/null 2>&1 && break
  sleep 1
done
docker version >/dev/null || { tail -50 /tmp/dockerd.log; exit 1; }
