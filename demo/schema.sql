-- The app's schema as it is before deployd applies anything: one table the
-- api reads.  demo/run creates it as the deploy role (deployer, owner of
-- database app) and lets the app role (app_user) use what deployer creates.
CREATE TABLE accounts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO accounts (name) VALUES ('acme'), ('globex'), ('initech');

ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO app_user;
GRANT SELECT, INSERT, UPDATE, DELETE ON accounts TO app_user;
