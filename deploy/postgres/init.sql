-- Runs once, on an empty data directory, as the superuser (docker-entrypoint-initdb.d).
-- One login role and one schema per service; the schema is named after the service and
-- owned by its role. `bvg_migrate` (the one-shot `migrate` job) may act as every service
-- role, so what it creates is usable by the owning service.
--
-- Passwords come from the container's environment (psql \getenv, PostgreSQL >= 15), with
-- defaults for local use only. Keep them URL-safe: they are spliced into DATABASE_URL.

\set ON_ERROR_STOP on

\getenv migrate_password MIGRATE_DB_PASSWORD
\if :{?migrate_password}
\else
  \set migrate_password 'migrate-local'
\endif
\getenv auth_password AUTH_DB_PASSWORD
\if :{?auth_password}
\else
  \set auth_password 'auth-local'
\endif
\getenv intake_password INTAKE_DB_PASSWORD
\if :{?intake_password}
\else
  \set intake_password 'intake-local'
\endif
\getenv coverage_password COVERAGE_DB_PASSWORD
\if :{?coverage_password}
\else
  \set coverage_password 'coverage-local'
\endif
\getenv pricing_password PRICING_DB_PASSWORD
\if :{?pricing_password}
\else
  \set pricing_password 'pricing-local'
\endif
\getenv billing_password BILLING_DB_PASSWORD
\if :{?billing_password}
\else
  \set billing_password 'billing-local'
\endif
\getenv dunning_password DUNNING_DB_PASSWORD
\if :{?dunning_password}
\else
  \set dunning_password 'dunning-local'
\endif

REVOKE ALL ON DATABASE :"DBNAME" FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

CREATE ROLE auth LOGIN PASSWORD :'auth_password';
CREATE ROLE intake LOGIN PASSWORD :'intake_password';
CREATE ROLE coverage LOGIN PASSWORD :'coverage_password';
CREATE ROLE pricing LOGIN PASSWORD :'pricing_password';
CREATE ROLE billing LOGIN PASSWORD :'billing_password';
CREATE ROLE dunning LOGIN PASSWORD :'dunning_password';
CREATE ROLE bvg_migrate LOGIN PASSWORD :'migrate_password';

CREATE SCHEMA auth AUTHORIZATION auth;
CREATE SCHEMA intake AUTHORIZATION intake;
CREATE SCHEMA coverage AUTHORIZATION coverage;
CREATE SCHEMA pricing AUTHORIZATION pricing;
CREATE SCHEMA billing AUTHORIZATION billing;
CREATE SCHEMA dunning AUTHORIZATION dunning;

-- Each service sees only its own schema.
ALTER ROLE auth SET search_path = auth;
ALTER ROLE intake SET search_path = intake;
ALTER ROLE coverage SET search_path = coverage;
ALTER ROLE pricing SET search_path = pricing;
ALTER ROLE billing SET search_path = billing;
ALTER ROLE dunning SET search_path = dunning;

GRANT CONNECT, TEMPORARY ON DATABASE :"DBNAME"
    TO auth, intake, coverage, pricing, billing, dunning, bvg_migrate;
-- CREATE on the database only because the runtime's pool start-up issues
-- `CREATE SCHEMA IF NOT EXISTS <own schema>`, which PostgreSQL checks before it sees
-- that the schema exists. Revoke it once the runtime checks for the schema first.
GRANT CREATE ON DATABASE :"DBNAME"
    TO auth, intake, coverage, pricing, billing, dunning;

-- The migration job: member of every service role (so it may create in their schemas),
-- plus default privileges so the owning service can use whatever it creates.
GRANT auth, intake, coverage, pricing, billing, dunning TO bvg_migrate;
GRANT CREATE ON DATABASE :"DBNAME" TO bvg_migrate;

ALTER DEFAULT PRIVILEGES FOR ROLE bvg_migrate IN SCHEMA auth
    GRANT ALL ON TABLES TO auth;
ALTER DEFAULT PRIVILEGES FOR ROLE bvg_migrate IN SCHEMA auth
    GRANT ALL ON SEQUENCES TO auth;
ALTER DEFAULT PRIVILEGES FOR ROLE bvg_migrate IN SCHEMA auth
    GRANT EXECUTE ON FUNCTIONS TO auth;

ALTER DEFAULT PRIVILEGES FOR ROLE bvg_migrate IN SCHEMA intake
    GRANT ALL ON TABLES TO intake;
ALTER DEFAULT PRIVILEGES FOR ROLE bvg_migrate IN SCHEMA intake
    GRANT ALL ON SEQUENCES TO intake;
ALTER DEFAULT PRIVILEGES FOR ROLE bvg_migrate IN SCHEMA intake
    GRANT EXECUTE ON FUNCTIONS TO intake;

ALTER DEFAULT PRIVILEGES FOR ROLE bvg_migrate IN SCHEMA coverage
    GRANT ALL ON TABLES TO coverage;
ALTER DEFAULT PRIVILEGES FOR ROLE bvg_migrate IN SCHEMA coverage
    GRANT ALL ON SEQUENCES TO coverage;
ALTER DEFAULT PRIVILEGES FOR ROLE bvg_migrate IN SCHEMA coverage
    GRANT EXECUTE ON FUNCTIONS TO coverage;

ALTER DEFAULT PRIVILEGES FOR ROLE bvg_migrate IN SCHEMA pricing
    GRANT ALL ON TABLES TO pricing;
ALTER DEFAULT PRIVILEGES FOR ROLE bvg_migrate IN SCHEMA pricing
    GRANT ALL ON SEQUENCES TO pricing;
ALTER DEFAULT PRIVILEGES FOR ROLE bvg_migrate IN SCHEMA pricing
    GRANT EXECUTE ON FUNCTIONS TO pricing;

ALTER DEFAULT PRIVILEGES FOR ROLE bvg_migrate IN SCHEMA billing
    GRANT ALL ON TABLES TO billing;
ALTER DEFAULT PRIVILEGES FOR ROLE bvg_migrate IN SCHEMA billing
    GRANT ALL ON SEQUENCES TO billing;
ALTER DEFAULT PRIVILEGES FOR ROLE bvg_migrate IN SCHEMA billing
    GRANT EXECUTE ON FUNCTIONS TO billing;

ALTER DEFAULT PRIVILEGES FOR ROLE bvg_migrate IN SCHEMA dunning
    GRANT ALL ON TABLES TO dunning;
ALTER DEFAULT PRIVILEGES FOR ROLE bvg_migrate IN SCHEMA dunning
    GRANT ALL ON SEQUENCES TO dunning;
ALTER DEFAULT PRIVILEGES FOR ROLE bvg_migrate IN SCHEMA dunning
    GRANT EXECUTE ON FUNCTIONS TO dunning;
