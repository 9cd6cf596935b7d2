-- fedpress schema v1. Applied once, in a transaction, by server/store/migrator.
-- Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE jobs (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  name           TEXT    NOT NULL,
  spec_json      TEXT    NOT NULL,            -- the validated, normalised job spec
  status         TEXT    NOT NULL CHECK (status IN ('queued','running','completed','failed','cancelled')),
  current_round  INTEGER NOT NULL DEFAULT 0,  -- last committed round (0 = none yet)
  total_rounds   INTEGER NOT NULL,
  error          TEXT,
  created_ms     INTEGER NOT NULL,
  started_ms     INTEGER,
  finished_ms    INTEGER,
  updated_ms     INTEGER NOT NULL
);
CREATE INDEX jobs_by_status ON jobs(status, id);

-- One row per committed round. A round exists here only once its checkpoint
-- is on disk: this row is the commit point.
CREATE TABLE rounds (
  job_id          INTEGER NOT NULL REFERENCES jobs(id),
  round           INTEGER NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 1,
  accuracy        REAL,                        -- test accuracy of the new global model
  loss            REAL,                        -- test loss
  train_loss      REAL,                        -- sample-weighted mean client train loss
  participants    INTEGER NOT NULL,            -- accepted updates
  rejected        INTEGER NOT NULL DEFAULT 0,
  late            INTEGER NOT NULL DEFAULT 0,
  timeouts        INTEGER NOT NULL DEFAULT 0,
  samples         INTEGER NOT NULL,            -- sum of accepted sample counts
  bytes_up_raw    INTEGER NOT NULL DEFAULT 0,  -- dense fp32 size of accepted updates
  bytes_up_wire   INTEGER NOT NULL DEFAULT 0,  -- bytes received for them
  bytes_down_raw  INTEGER NOT NULL DEFAULT 0,  -- dense size of models sent this round
  bytes_down_wire INTEGER NOT NULL DEFAULT 0,  -- bytes sent for them
  started_ms      INTEGER NOT NULL,
  finished_ms     INTEGER NOT NULL,
  duration_ms     INTEGER NOT NULL,
  checkpoint      TEXT    NOT NULL,
  PRIMARY KEY (job_id, round)
);

CREATE TABLE clients (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  name          TEXT    NOT NULL UNIQUE,
  samples       INTEGER NOT NULL DEFAULT 0,
  info_json     TEXT    NOT NULL DEFAULT '{}', -- dataset, capabilities, version
  first_seen_ms INTEGER NOT NULL,
  last_seen_ms  INTEGER NOT NULL,
  rounds_done   INTEGER NOT NULL DEFAULT 0,    -- accepted participations
  bytes_up      INTEGER NOT NULL DEFAULT 0,    -- wire bytes received from it
  bytes_down    INTEGER NOT NULL DEFAULT 0     -- wire bytes sent to it
);

-- One row per (client, round attempt) outcome, written as it happens.
CREATE TABLE participations (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id          INTEGER NOT NULL REFERENCES jobs(id),
  round           INTEGER NOT NULL,
  attempt         INTEGER NOT NULL DEFAULT 1,
  client_id       INTEGER NOT NULL REFERENCES clients(id),
  status          TEXT    NOT NULL CHECK (status IN ('accepted','rejected','late','timeout')),
  reason          TEXT    NOT NULL DEFAULT '',
  samples         INTEGER NOT NULL DEFAULT 0,
  train_loss      REAL,
  bytes_up_raw    INTEGER NOT NULL DEFAULT 0,
  bytes_up_wire   INTEGER NOT NULL DEFAULT 0,
  bytes_down_raw  INTEGER NOT NULL DEFAULT 0,
  bytes_down_wire INTEGER NOT NULL DEFAULT 0,
  train_ms        INTEGER NOT NULL DEFAULT 0,
  encode_ms       INTEGER NOT NULL DEFAULT 0,
  decode_ms       INTEGER NOT NULL DEFAULT 0,
  sent_ms         INTEGER,
  received_ms     INTEGER
);
CREATE INDEX participations_by_round ON participations(job_id, round);

CREATE TABLE events (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  ts_ms   INTEGER NOT NULL,
  job_id  INTEGER,
  kind    TEXT    NOT NULL,   -- job_created, job_started, round_committed, job_completed, ...
  message TEXT    NOT NULL
);
CREATE INDEX events_by_job ON events(job_id, id);
