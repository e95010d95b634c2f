import Foundation

/// The PostgreSQL schema, as numbered, append-only migrations (docs/architecture.md, The PostgreSQL
/// store). Never edit a migration that has shipped: add a new one below it.
///
/// The schema mirrors the SQLite store's as it stands after its v8 migration (FlintStore's
/// Migrations.swift), so both stores run the same queries: instants are `double precision` unix
/// seconds (the exact `Double` a `Date` holds: a run's `created_at` is the decision's `now`, which
/// replay compares exactly), JSON columns hold compact JSON text (byte for byte what was planned),
/// integers are `bigint`. Differences: `events.seq` comes from a counter row (`event_sequence`, see
/// `PostgresTransaction.insertEvent`) and the other ids from identity columns, no `legacy` column on runs (no PostgreSQL store predates
/// compact runs), and the decided position starts at 0.
///
/// Every process that opens the store writable runs what is missing, under `pg_advisory_lock`:
/// the first one migrates, the others wait for it and then find nothing to do.
enum PostgresMigrations {
    struct Migration: Sendable {
        var version: Int
        var name: String
        var statements: [String]
    }

    /// The advisory lock key the migrations run under (any process of any Flint version).
    static let lockKey: Int64 = 0x666C_696E_7401  // "flint" 01

    static let all: [Migration] = [
        Migration(version: 1, name: "ledger", statements: v1Ledger)
    ]

    static let createTable = """
        CREATE TABLE IF NOT EXISTS flint_migrations (
            version bigint PRIMARY KEY,
            name text NOT NULL,
            applied_at double precision NOT NULL
        )
        """

    /// Runs the migrations `session` has not seen yet, each in its own transaction, holding the
    /// advisory lock the whole time.
    static func migrate(_ session: PGSession) throws {
        try session.query("SELECT pg_advisory_lock(?)", binds(lockKey))
        do {
            try session.query(createTable)
            let applied = Set(try session.query("SELECT version FROM flint_migrations").rows.map { try $0.int(0) })
            for migration in all where !applied.contains(migration.version) {
                try session.query("BEGIN")
                do {
                    try session.execute(migration.statements)
                    try session.query(
                        "INSERT INTO flint_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                        binds(migration.version, migration.name, Date().timeIntervalSince1970))
                    try session.query("COMMIT")
                } catch {
                    _ = try? session.query("ROLLBACK")
                    throw error
                }
            }
        } catch {
            _ = try? session.query("SELECT pg_advisory_unlock(?)", binds(lockKey))
            throw error
        }
        try session.query("SELECT pg_advisory_unlock(?)", binds(lockKey))
    }

    /// The versions not applied yet; nil when the database has no Flint schema at all.
    static func missing(_ session: PGSession) throws -> [Int]? {
        let exists = try session.query("SELECT to_regclass('flint_migrations') IS NOT NULL").rows.first?.bool(0) ?? false
        guard exists else { return nil }
        let applied = Set(try session.query("SELECT version FROM flint_migrations").rows.map { try $0.int(0) })
        return all.map(\.version).filter { !applied.contains($0) }
    }

    /// Events, rejected events, profiles, rule versions, decide contexts, runs, sent requests, the
    /// outbox, cancellations, `once_per`, plugin statuses, unknown zones, serve health and the decided
    /// position: the SQLite schema after v8, with the same indexes (each serves a query named beside it).
    static let v1Ledger: [String] = [
        """
        CREATE TABLE events (
            seq bigint PRIMARY KEY,                                   -- the commit order: event_sequence
            message_id text NOT NULL UNIQUE,                          -- dedupe; event(id:)
            type text NOT NULL,
            name text,
            user_key text NOT NULL,
            user_id text,
            anonymous_id text,
            timestamp double precision NOT NULL,
            received_at double precision NOT NULL,
            source text NOT NULL,
            body text NOT NULL
        )
        """,
        // The last seq handed out: taken in the inserting transaction, so it rolls back with it (no
        // gaps), is never reused after a prune, and its row lock orders the writers (insertEvent).
        "CREATE TABLE event_sequence (id bigint PRIMARY KEY CHECK (id = 1), last bigint NOT NULL)",
        "INSERT INTO event_sequence (id, last) VALUES (1, 0)",
        "CREATE INDEX events_by_user ON events(user_key, received_at)",  // events(user:), runs(user:)
        "CREATE INDEX events_by_name ON events(name, received_at)",  // events(name:)
        "CREATE INDEX events_by_received_at ON events(received_at)",  // events(since:), prune
        """
        CREATE TABLE rejected_events (
            id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            received_at double precision NOT NULL,
            source text NOT NULL,
            batch_index bigint NOT NULL,
            errors text NOT NULL,                                     -- JSON array of strings
            body text NOT NULL,
            origin text                                               -- {"file":..,"line":..} or {"endpoint":..,"index":..}
        )
        """,
        "CREATE INDEX rejected_by_received_at ON rejected_events(received_at)",
        """
        CREATE TABLE profiles (
            user_key text PRIMARY KEY,
            traits text NOT NULL,
            time_zone text,
            updated_at double precision NOT NULL
        )
        """,
        """
        CREATE TABLE rule_versions (
            rule_id text NOT NULL,
            version text NOT NULL,
            file text NOT NULL,
            definition text NOT NULL,
            first_seen double precision NOT NULL,
            text text,                                                -- the rule file's text
            PRIMARY KEY (rule_id, version)
        )
        """,
        """
        CREATE TABLE decide_contexts (
            id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            default_zone text NOT NULL,
            company_zone text,
            lead bigint NOT NULL
        )
        """,
        "CREATE INDEX decide_contexts_by_value ON decide_contexts(default_zone, company_zone, lead)",
        """
        CREATE TABLE runs (
            id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            event_seq bigint NOT NULL REFERENCES events(seq),
            rule_id text NOT NULL,
            rule_version text NOT NULL,
            user_key text NOT NULL,
            status text NOT NULL,
            reason text NOT NULL,
            action text NOT NULL,
            send_at double precision,
            outbox_key text,                                          -- NULL when no outbox row was written
            held text,                                                -- {"gate":..,"detail":..}: the limit that held it back
            context_id bigint REFERENCES decide_contexts(id),
            schedule_id text,
            dispatch_id text,
            cancelled_by text,
            consumed_at double precision,                             -- set when the run reached pending (max_sends)
            created_at double precision NOT NULL,                     -- the decision's now, exactly
            updated_at double precision NOT NULL,
            UNIQUE (event_seq, rule_id)                               -- runs(event:), runs(user:), prune
        )
        """,
        "CREATE INDEX runs_by_rule ON runs(rule_id, created_at)",  // runs(rule:)
        "CREATE INDEX runs_by_status ON runs(status, created_at)",  // runs(status:), status, prune
        "CREATE INDEX runs_by_created_at ON runs(created_at)",  // runs() unfiltered, prune
        "CREATE INDEX runs_consumed ON runs(rule_id, consumed_at) WHERE consumed_at IS NOT NULL",  // consumedCount (max_sends)
        "CREATE INDEX runs_open ON runs(rule_id, user_key) WHERE status IN ('pending', 'scheduled')",  // openRuns (cancel_on)
        """
        CREATE TABLE sent_requests (
            id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            body text NOT NULL
        )
        """,
        """
        CREATE TABLE outbox (
            id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            run_id bigint NOT NULL UNIQUE REFERENCES runs(id) ON DELETE CASCADE,
            key text NOT NULL UNIQUE,                                 -- (rule, version, event, recipient): sent once
            action text NOT NULL,
            body text NOT NULL,
            send_at double precision,
            state text NOT NULL DEFAULT 'pending',                    -- pending|sending|sent|dead|unknown|cancelled
            attempts bigint NOT NULL DEFAULT 0,
            next_attempt_at double precision,
            last_error text,
            created_at double precision NOT NULL,
            updated_at double precision NOT NULL,
            schedule text,                                            -- the planned (or re-planned) schedule
            zone text,                                                -- the zone wall clocks were read in
            sent_id bigint                                            -- sent_requests(id), once sent
        )
        """,
        "CREATE INDEX outbox_by_state ON outbox(state, send_at)",  // status
        "CREATE INDEX outbox_due ON outbox(state, next_attempt_at, id)",  // dueOutbox, freshOutbox, retriesDue
        """
        CREATE TABLE once_per (
            rule_id text NOT NULL,
            key text NOT NULL,
            event_time double precision NOT NULL,
            run_id bigint NOT NULL,
            PRIMARY KEY (rule_id, key)
        )
        """,
        """
        CREATE TABLE cancellations (
            run_id bigint PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
            campaign_id text NOT NULL,
            schedule_id text NOT NULL,
            reason text NOT NULL,
            by_event text,
            state text NOT NULL DEFAULT 'pending',                    -- pending|sending|sent|dead|unknown
            attempts bigint NOT NULL DEFAULT 0,
            next_attempt_at double precision,
            last_error text,
            created_at double precision NOT NULL,
            updated_at double precision NOT NULL
        )
        """,
        "CREATE INDEX cancellations_due ON cancellations(state, next_attempt_at)",
        """
        CREATE TABLE plugin_status (
            position bigint NOT NULL,
            name text PRIMARY KEY,
            kind text NOT NULL,
            origin text NOT NULL,
            command text,
            state text NOT NULL,
            pid bigint,
            restarts bigint NOT NULL,
            garbage_lines bigint NOT NULL,
            handled bigint NOT NULL,
            failures bigint NOT NULL,
            last_error text,
            last_error_at double precision,
            started_at double precision,
            next_start_at double precision,
            updated_at double precision NOT NULL
        )
        """,
        """
        CREATE TABLE unknown_zones (
            zone text PRIMARY KEY,
            runs bigint NOT NULL,
            last_seen double precision NOT NULL,
            last_user text
        )
        """,
        """
        CREATE TABLE serve_health (
            id bigint PRIMARY KEY CHECK (id = 1),
            pid bigint NOT NULL,
            host text NOT NULL,
            listen text NOT NULL,
            started_at double precision NOT NULL,
            last_seen double precision NOT NULL,
            stopped_at double precision,
            paused_action text,
            paused_reason text,
            paused_since double precision,
            next_probe_at double precision,
            rules_loaded bigint NOT NULL,
            rule_errors text NOT NULL,                                -- JSON array of strings
            rule_errors_since double precision
        )
        """,
        """
        CREATE TABLE decide_position (
            id bigint PRIMARY KEY CHECK (id = 1),
            decided_through bigint NOT NULL,
            updated_at double precision NOT NULL
        )
        """,
        "INSERT INTO decide_position (id, decided_through, updated_at) VALUES (1, 0, 0)",
    ]
}
