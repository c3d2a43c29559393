# Sourced by .ci/run (or by hand: `. .ci/postgres.sh`): start the local PostgreSQL cluster, make the test role
# and database, and export HORAE_TEST_POSTGRES_URL. The store's tests give each test a schema of its own.
pg_version=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h | grep -q online; then
  pg_ctlcluster "$pg_version" main start || pg_createcluster "$pg_version" main --start
fi
for _ in $(seq 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 1
done
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='horae'\"" | grep -q 1 ||
  su postgres -c "psql -qc \"CREATE ROLE horae LOGIN SUPERUSER PASSWORD 'horae'\""
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='horae_test'\"" | grep -q 1 ||
  su postgres -c "createdb -O horae horae_test"
unset pg_version
export HORAE_TEST_POSTGRES_URL="postgresql+psycopg://horae:horae@127.0.0.1:5432/horae_test"
