#!/bin/sh
# PostgreSQL roles for the studio, run once by the postgres image on a fresh data directory
# (/docker-entrypoint-initdb.d). Two ordinary roles, neither a superuser nor BYPASSRLS, so that row-level
# security (migration 0007) applies to the running studio:
#   - the owner role owns the database and its tables and runs `studio migrate`;
#   - the app role (api, worker, scheduler) may read and write rows, and nothing else: no DDL.
# Names and passwords come from the environment; the defaults match docker-compose.yml.
set -eu
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v owner="${STUDIO_DB_OWNER:-studio_owner}" -v owner_password="${STUDIO_DB_OWNER_PASSWORD:-studio-owner}" \
  -v app="${STUDIO_DB_USER:-studio}" -v app_password="${STUDIO_DB_PASSWORD:-studio}" \
  -v database="${STUDIO_DB_NAME:-studio}" <<'SQL'
CREATE ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD :'owner_password';
CREATE ROLE :"app" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD :'app_password';
CREATE DATABASE :"database" OWNER :"owner";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"database" TO :"app";
\connect :"database"
ALTER SCHEMA public OWNER TO :"owner";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app";
-- Tables and sequences the owner's migrations create are the app's to use, not to alter.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO :"app";
SQL
