-- fedpress schema v2: the dashboard/API admin token. Only its SHA-256 (hex)
-- is stored; the token itself is shown once and written to the token file.
-- At most one row (id = 1); rotating replaces it.
CREATE TABLE admin_token (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  sha256_hex  TEXT    NOT NULL CHECK (length(sha256_hex) = 64),
  created_ms  INTEGER NOT NULL
);
