-- fedpress schema v3: enrolled client credentials (ZeroMQ CURVE). Only the
-- client's CURVE public key (Z85, 40 characters) is stored; its secret key
-- never reaches the server's disk. A revoked credential keeps its row (for
-- history) with revoked_ms set; names and keys are unique among the active
-- ones, so a revoked device can be enrolled again under its name.
CREATE TABLE client_credentials (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  name        TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
  public_key  TEXT    NOT NULL CHECK (length(public_key) = 40),
  created_ms  INTEGER NOT NULL,
  revoked_ms  INTEGER
);
CREATE UNIQUE INDEX client_credentials_active_name ON client_credentials(name) WHERE revoked_ms IS NULL;
CREATE UNIQUE INDEX client_credentials_active_key ON client_credentials(public_key) WHERE revoked_ms IS NULL;
