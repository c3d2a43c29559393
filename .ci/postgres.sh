# Sourced by .ci/run: start the local PostgreSQL cluster and export HORAE_TEST_POSTGRES_URL.
pg_version=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h | grep -q online; then
  pg_ctlcluster "$pg_version" main start || pg_createcluster "$pg_version" main --start
fi
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='horae'\"" | grep -q 1 ||
  su postgres -c "psql -qc \"CREATE ROLE horae LOGIN SUPERUSER PASSWORD 'horae'\""
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='horae_test'\"" | grep -q 1 ||
  su postgres -c "createdb -O horae horae_test"
export HORAE_TEST_POSTGRES_URL="postgresql+psycopg://horae:horae@127.0.0.1:5432/horae_test"
