# Sourced by .ci/run (or by hand: `. .ci/zookeeper.sh`): a real ZooKeeper on 127.0.0.1:2181 for the Mesos
# leader-detection tests (masters contend there as `json.info_` nodes). Debian's `zookeeper` package,
# started in the foreground-less standalone mode its own script offers (no init system is needed).
apt-get install -y -qq zookeeper >/dev/null
if ! /usr/share/zookeeper/bin/zkServer.sh status >/dev/null 2>&1; then
  /usr/share/zookeeper/bin/zkServer.sh start >/dev/null
fi
for _ in $(seq 60); do
  /usr/share/zookeeper/bin/zkServer.sh status >/dev/null 2>&1 && break
  sleep 1
done
/usr/share/zookeeper/bin/zkServer.sh status >/dev/null
