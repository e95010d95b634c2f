import GRDB

/// The store's schema, as named, append-only GRDB migrations.
///
/// Never edit a migration that has shipped: add a new one below it. Instants are REAL unix seconds
/// (milliseconds kept); JSON columns hold compact JSON text (`JSONValue.compactJSON`).
enum Migrations {
    /// The names of every migration, in order (what `grdb_migrations` records).
    static let names = ["v1-ledger", "v2-dispatch", "v3-plugins", "v4-zones", "v5-health", "v6-rejected-origin", "v7-decide", "v8-compact-runs", "v9-console"]

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-ledger") { db in
            try db.execute(sql: v1Ledger)
        }
        migrator.registerMigration("v2-dispatch") { db in
            try db.execute(sql: v2Dispatch)
        }
        migrator.registerMigration("v3-plugins") { db in
            try db.execute(sql: v3Plugins)
        }
        migrator.registerMigration("v4-zones") { db in
            try db.execute(sql: v4Zones)
        }
        migrator.registerMigration("v5-health") { db in
            try db.execute(sql: v5Health)
        }
        migrator.registerMigration("v6-rejected-origin") { db in
            try db.execute(sql: v6RejectedOrigin)
        }
        migrator.registerMigration("v7-decide") { db in
            try db.execute(sql: v7Decide)
        }
        // GRDB runs a migration with foreign keys off and checks them all before it commits
        // (`foreignKeyChecks: .deferred`, the default): the runs table can be rebuilt under the outbox
        // and cancellations that reference it.
        migrator.registerMigration("v8-compact-runs") { db in
            let sequence = try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'runs'") ?? 0
            try db.execute(sql: v8CompactRuns)
            try db.execute(
                sql: "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'runs'", arguments: [sequence])
        }
        migrator.registerMigration("v9-console") { db in
            try db.execute(sql: v9Console)
        }
        return migrator
    }

    /// Events, rejected events, profiles, rule versions, runs, the outbox and `once_per` state.
    ///
    /// Every index serves a query of `SQLiteStateStore` (named in the comment beside it). Listings are
    /// newest first by (time, id), so each filter has an index ending with its time column.
    private static let v1Ledger = """
        -- seq is the commit order ("later" means a higher seq). AUTOINCREMENT: never reused, even
        -- after a prune deletes the newest rows.
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            message_id TEXT NOT NULL UNIQUE,            -- dedupe; event(id:)
            type TEXT NOT NULL,
            name TEXT,
            user_key TEXT NOT NULL,
            user_id TEXT,
            anonymous_id TEXT,
            timestamp REAL NOT NULL,
            received_at REAL NOT NULL,
            source TEXT NOT NULL,
            body TEXT NOT NULL
        );
        CREATE INDEX events_by_user ON events(user_key, received_at);     -- events(user:)
        CREATE INDEX events_by_name ON events(name, received_at);         -- events(name:)
        CREATE INDEX events_by_received_at ON events(received_at);        -- events(since:), prune

        CREATE TABLE rejected_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            received_at REAL NOT NULL,
            source TEXT NOT NULL,
            batch_index INTEGER NOT NULL,
            errors TEXT NOT NULL,                       -- JSON array of strings
            body TEXT NOT NULL
        );
        CREATE INDEX rejected_by_received_at ON rejected_events(received_at);

        CREATE TABLE profiles (
            user_key TEXT PRIMARY KEY NOT NULL,
            traits TEXT NOT NULL,
            time_zone TEXT,
            updated_at REAL NOT NULL
        ) WITHOUT ROWID;

        CREATE TABLE rule_versions (
            rule_id TEXT NOT NULL,
            version TEXT NOT NULL,
            file TEXT NOT NULL,
            definition TEXT NOT NULL,
            first_seen REAL NOT NULL,
            PRIMARY KEY (rule_id, version)
        ) WITHOUT ROWID;

        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_seq INTEGER NOT NULL REFERENCES events(seq),
            event_id TEXT NOT NULL,
            rule_id TEXT NOT NULL,
            rule_version TEXT NOT NULL,
            user_key TEXT NOT NULL,
            status TEXT NOT NULL,
            reason TEXT NOT NULL,
            action TEXT NOT NULL,
            send_at REAL,
            schedule TEXT,
            request TEXT,
            trace TEXT NOT NULL,
            schedule_id TEXT,
            dispatch_id TEXT,
            cancelled_by TEXT,
            consumed_at REAL,                           -- set when the run reached pending (max_sends)
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            UNIQUE (event_seq, rule_id)                 -- runs(event:), prune
        );
        CREATE INDEX runs_by_rule ON runs(rule_id, created_at);           -- runs(rule:)
        CREATE INDEX runs_by_user ON runs(user_key, created_at);          -- runs(user:), why
        CREATE INDEX runs_by_status ON runs(status, created_at);          -- runs(status:), status, prune
        CREATE INDEX runs_by_created_at ON runs(created_at);              -- runs() unfiltered
        CREATE INDEX runs_consumed ON runs(rule_id, consumed_at)          -- consumedCount (max_sends)
            WHERE consumed_at IS NOT NULL;
        CREATE INDEX runs_open ON runs(rule_id, user_key)                 -- openRuns (cancel_on)
            WHERE status IN ('pending', 'scheduled');

        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL UNIQUE REFERENCES runs(id) ON DELETE CASCADE,
            key TEXT NOT NULL UNIQUE,                   -- (rule, version, event, recipient): sent once
            action TEXT NOT NULL,
            body TEXT NOT NULL,
            send_at REAL,
            state TEXT NOT NULL DEFAULT 'pending',      -- pending|claimed|sent|dead|unknown|cancelled
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL,
            last_error TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX outbox_by_state ON outbox(state, send_at);           -- dispatcher, status

        -- The last send that consumed once_per for (rule, key). Not tied to runs by a foreign key:
        -- the window can outlive the run's retention.
        CREATE TABLE once_per (
            rule_id TEXT NOT NULL,
            key TEXT NOT NULL,
            event_time REAL NOT NULL,
            run_id INTEGER NOT NULL,
            PRIMARY KEY (rule_id, key)
        ) WITHOUT ROWID;
        """

    /// The dispatcher: retries due by time, and Braze schedules to delete (`cancel_on` after the create
    /// was sent).
    private static let v2Dispatch = """
        CREATE INDEX outbox_due ON outbox(state, next_attempt_at, id);     -- dueOutbox
        CREATE TABLE cancellations (
            run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
            campaign_id TEXT NOT NULL,
            schedule_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            by_event TEXT,
            state TEXT NOT NULL DEFAULT 'pending',      -- pending|sending|sent|dead|unknown
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL,
            last_error TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX cancellations_due ON cancellations(state, next_attempt_at);
        """

    /// What `flint serve` last said about each plugin it hosts (`flint plugins`): replaced as a
    /// whole when the statuses change, and every few seconds as a heartbeat (`updated_at`).
    private static let v3Plugins = """
        CREATE TABLE plugin_status (
            position INTEGER NOT NULL,
            name TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            origin TEXT NOT NULL,
            command TEXT,
            state TEXT NOT NULL,
            pid INTEGER,
            restarts INTEGER NOT NULL,
            garbage_lines INTEGER NOT NULL,
            handled INTEGER NOT NULL,
            failures INTEGER NOT NULL,
            last_error TEXT,
            last_error_at REAL,
            started_at REAL,
            next_start_at REAL,
            updated_at REAL NOT NULL
        ) WITHOUT ROWID;
        """

    /// Zone names that are not in the tz database, counted per run that ignored one (an event's
    /// `context.timezone`, a zone learned from identify calls): `flint status` shows them.
    private static let v4Zones = """
        CREATE TABLE unknown_zones (
            zone TEXT PRIMARY KEY,
            runs INTEGER NOT NULL,
            last_seen REAL NOT NULL,
            last_user TEXT
        ) WITHOUT ROWID;
        """

    /// What `flint serve` last said about itself (`flint status`): one row, replaced every few seconds
    /// as a heartbeat (`last_seen`), with the dispatch pause and the errors of a refused rules reload.
    private static let v5Health = """
        CREATE TABLE serve_health (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            listen TEXT NOT NULL,
            started_at REAL NOT NULL,
            last_seen REAL NOT NULL,
            stopped_at REAL,
            paused_action TEXT,
            paused_reason TEXT,
            paused_since REAL,
            next_probe_at REAL,
            rules_loaded INTEGER NOT NULL,
            rule_errors TEXT NOT NULL,                  -- JSON array of strings
            rule_errors_since REAL
        );
        """

    /// Where a rejected item came from (`flint events --rejected`): compact JSON
    /// `{"file": "inbox/orders.ndjson", "line": 3}` or `{"endpoint": "/v1/batch", "index": 2}`;
    /// NULL when the source did not say (rows written before this migration, `flint ingest`).
    private static let v6RejectedOrigin = """
        ALTER TABLE rejected_events ADD COLUMN origin TEXT;
        """

    /// The decider's durable position (docs/architecture.md, The pipeline): every event with
    /// `seq <= decided_through` is decided. One row. Events accepted before this migration were
    /// decided in the transaction that accepted them, so the position starts at the last of them.
    private static let v7Decide = """
        CREATE TABLE decide_position (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            decided_through INTEGER NOT NULL,
            updated_at REAL NOT NULL
        );
        INSERT INTO decide_position (id, decided_through, updated_at)
        VALUES (1, (SELECT coalesce(max(seq), 0) FROM events), 0);
        """

    /// Compact runs (docs/architecture.md, Runs and the ledger): a run row keeps its outcome and the
    /// state outcomes of its decision (the limit that held it back, the settings it was decided with),
    /// not its trace, request and schedule: those are rebuilt on demand by deciding the stored event
    /// again with the stored rule version. Rows decided before this migration keep their old
    /// {trace, request, schedule} in `legacy`.
    ///
    /// Also: the rule file's text per rule version (what a rebuild parses), one row per distinct
    /// planning settings (`decide_contexts`), the schedule and zone the dispatcher needs on the outbox
    /// row, and the exact request sent, once per request (`sent_requests`).
    ///
    /// `runs_by_user` and `event_id` go: runs of a user are reached through `events_by_user` and the
    /// runs' UNIQUE (event_seq, rule_id) index; the event id through events.seq.
    private static let v8CompactRuns = """
        ALTER TABLE rule_versions ADD COLUMN text TEXT;               -- the rule file's text (NULL before v8)

        CREATE TABLE decide_contexts (
            id INTEGER PRIMARY KEY,
            default_zone TEXT NOT NULL,
            company_zone TEXT,
            lead INTEGER NOT NULL
        );
        CREATE INDEX decide_contexts_by_value ON decide_contexts(default_zone, company_zone, lead);

        -- The exact request an action accepted (a coalesced request: once for all its rows).
        CREATE TABLE sent_requests (
            id INTEGER PRIMARY KEY,
            body TEXT NOT NULL
        );

        ALTER TABLE outbox ADD COLUMN schedule TEXT;                 -- the planned (or re-planned) schedule
        ALTER TABLE outbox ADD COLUMN zone TEXT;                     -- the zone wall clocks were read in
        ALTER TABLE outbox ADD COLUMN sent_id INTEGER;               -- sent_requests(id), once sent
        UPDATE outbox SET
            schedule = (SELECT r.schedule FROM runs r WHERE r.id = outbox.run_id),
            zone = (SELECT json_extract(r.trace, '$.zone') FROM runs r WHERE r.id = outbox.run_id);

        CREATE TABLE runs_new (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_seq INTEGER NOT NULL REFERENCES events(seq),
            rule_id TEXT NOT NULL,
            rule_version TEXT NOT NULL,
            user_key TEXT NOT NULL,                     -- runs_open (cancel_on)
            status TEXT NOT NULL,
            reason TEXT NOT NULL,
            action TEXT NOT NULL,
            send_at REAL,
            outbox_key TEXT,                            -- NULL when no outbox row was written
            held TEXT,                                  -- {"gate": "once_per", "detail": "..."}: the limit that held it back
            context_id INTEGER REFERENCES decide_contexts(id),
            schedule_id TEXT,
            dispatch_id TEXT,
            cancelled_by TEXT,
            consumed_at REAL,                           -- set when the run reached pending (max_sends)
            created_at REAL NOT NULL,                   -- the decision's `now`, exactly
            updated_at REAL NOT NULL,
            legacy TEXT,                                -- {trace, request, schedule} of runs decided before v8
            UNIQUE (event_seq, rule_id)                 -- runs(event:), runs(user:) through events_by_user, prune
        );
        INSERT INTO runs_new (id, event_seq, rule_id, rule_version, user_key, status, reason, action, send_at, outbox_key, held,
                              context_id, schedule_id, dispatch_id, cancelled_by, consumed_at, created_at, updated_at, legacy)
        SELECT r.id, r.event_seq, r.rule_id, r.rule_version, r.user_key, r.status, r.reason, r.action, r.send_at,
               (SELECT o.key FROM outbox o WHERE o.run_id = r.id), NULL, NULL, r.schedule_id, r.dispatch_id, r.cancelled_by,
               r.consumed_at, r.created_at, r.updated_at,
               '{"trace":' || r.trace || ',"request":' || coalesce(r.request, 'null') || ',"schedule":' || coalesce(r.schedule, 'null') || '}'
        FROM runs r;
        DROP TABLE runs;
        ALTER TABLE runs_new RENAME TO runs;
        CREATE INDEX runs_by_rule ON runs(rule_id, created_at);           -- runs(rule:)
        CREATE INDEX runs_by_status ON runs(status, created_at);          -- runs(status:), status, prune
        CREATE INDEX runs_by_created_at ON runs(created_at);              -- runs() unfiltered, prune
        CREATE INDEX runs_consumed ON runs(rule_id, consumed_at)          -- consumedCount (max_sends)
            WHERE consumed_at IS NOT NULL;
        CREATE INDEX runs_open ON runs(rule_id, user_key)                 -- openRuns (cancel_on)
            WHERE status IN ('pending', 'scheduled');
        """

    /// The console's counts (docs/console.md), each answered from an index alone on a million runs:
    /// runs per rule and status over a window (the rules page), and sends per rule, zone and quarter
    /// hour over a window (where sends land; the rule is the outbox key's first part, so no run is
    /// read, and the index holds the groups in order). Without them those pages read every run or
    /// outbox row of the window and sort them: 60 ms per rule, and 300 ms for a week of 115,000 sends
    /// on the bench ledger (BENCHMARKS.md, Console).
    private static let v9Console = """
        CREATE INDEX runs_by_rule_status ON runs(rule_id, status, created_at);    -- runCountsByRule
        -- sendBuckets: (state, quarter hour, zone, rule) in order, so the counts stream without a sort.
        CREATE INDEX outbox_landing ON outbox(state, CAST(send_at / 900 AS INTEGER), zone, substr(key, 1, instr(key, '|') - 1));
        """
}
