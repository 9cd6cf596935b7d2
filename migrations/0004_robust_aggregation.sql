-- fedpress schema v4: robust aggregation records. Per accepted update: its L2
-- norm (before any clipping), whether the server clipped it, and whether it
-- was flagged as an outlier (norm > outlier_factor x the round's median norm).
-- Per committed round: the median update norm and how many were clipped or
-- flagged. Rows written before v4 keep NULL norms and 0 flags.
ALTER TABLE participations ADD COLUMN update_norm REAL;
ALTER TABLE participations ADD COLUMN clipped INTEGER NOT NULL DEFAULT 0 CHECK (clipped IN (0, 1));
ALTER TABLE participations ADD COLUMN outlier INTEGER NOT NULL DEFAULT 0 CHECK (outlier IN (0, 1));
ALTER TABLE rounds ADD COLUMN median_norm REAL;
ALTER TABLE rounds ADD COLUMN clipped INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rounds ADD COLUMN outliers INTEGER NOT NULL DEFAULT 0;
