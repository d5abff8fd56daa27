import GRDB

/// The run database's schema, as GRDB migrations (each applied once, in order, recorded in `grdb_migrations`).
/// A later change adds a migration; it never edits one that shipped.
///
/// - `runs`: one row per run. `parameters` and `metrics` are JSON objects (string → string, string → number);
///   timestamps are ISO 8601 UTC text with milliseconds (they sort as text); `liveness_token` names the run's lock
///   file (``RunLock``); `parent_id` links a trial to its tune run.
/// - `epochs`: one row per (run, phase, epoch); a loss or metric that was not a finite number is NULL.
enum RunSchema {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1: runs and epochs") { db in
            try db.execute(sql: """
                CREATE TABLE runs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    parent_id INTEGER REFERENCES runs(id) ON DELETE CASCADE,
                    kind TEXT NOT NULL CHECK (length(kind) > 0),
                    status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'killed')),
                    started_at TEXT NOT NULL,
                    ended_at TEXT,
                    wall_seconds REAL,
                    command_line TEXT NOT NULL,
                    parameters TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(parameters)),
                    tool_version TEXT NOT NULL,
                    data_fingerprint TEXT,
                    bundle_path TEXT,
                    bundle_sha256 TEXT,
                    metrics TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metrics)),
                    error TEXT,
                    pid INTEGER NOT NULL,
                    host TEXT NOT NULL,
                    liveness_token TEXT NOT NULL UNIQUE
                );
                CREATE INDEX runs_by_status ON runs(status);
                CREATE INDEX runs_by_parent ON runs(parent_id);
                CREATE TABLE epochs (
                    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    ordinal INTEGER NOT NULL,
                    phase TEXT NOT NULL,
                    epoch INTEGER NOT NULL CHECK (epoch >= 0),
                    train_loss REAL,
                    valid_loss REAL,
                    valid_metric REAL,
                    learning_rate REAL,
                    seconds REAL NOT NULL,
                    recorded_at TEXT NOT NULL,
                    PRIMARY KEY (run_id, phase, epoch)
                );
                CREATE INDEX epochs_in_order ON epochs(run_id, ordinal);
                """)
        }
        return m
    }

    /// The tables a database must have to be a run database (checked when a non-empty file is opened).
    static let tables = ["runs", "epochs"]
}
