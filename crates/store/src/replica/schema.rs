//! Versioned migrations of the device database. Each entry runs once, in order, in its own
//! transaction; `PRAGMA user_version` records the last one applied.

/// `(version, sql)`, ascending. Never edit an entry that has shipped: add a new one.
pub const MIGRATIONS: &[(u32, &str)] = &[
    (1, V1),
    (2, V2),
    (3, V3),
    (4, V4),
    (5, V5),
    (6, V6),
    (7, V7),
    (8, V8),
    (9, V9),
    (10, V10),
    (11, V11),
    (12, V12),
];

/// Every migration in order: the DDL of a fresh replica (the sync benchmark's `sqlite3`
/// reference import runs exactly this).
pub fn ddl() -> String {
    MIGRATIONS
        .iter()
        .map(|(_, sql)| *sql)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The replica's tables and indexes as first shipped.
pub const V1: &str = r#"
CREATE TABLE constituents (
    id            INTEGER PRIMARY KEY,
    lookup_id     TEXT UNIQUE,
    title         TEXT,
    first_name    TEXT NOT NULL,
    middle_name   TEXT,
    last_name     TEXT NOT NULL,
    suffix        TEXT,
    first_norm    TEXT NOT NULL,
    last_norm     TEXT NOT NULL,
    birth_date    TEXT,
    status        TEXT NOT NULL,
    pending       INTEGER NOT NULL DEFAULT 0,
    -- Fingerprints of the child rows (historical names, emails, phones, addresses) as last
    -- written, so a delta rewrites only the kinds that changed without reading them first.
    names_hash    INTEGER NOT NULL DEFAULT 0,
    emails_hash   INTEGER NOT NULL DEFAULT 0,
    phones_hash   INTEGER NOT NULL DEFAULT 0,
    addresses_hash INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX constituents_name ON constituents(last_norm, first_norm);
CREATE INDEX constituents_first_name ON constituents(first_norm, last_norm);

CREATE TABLE historical_names (
    constituent_id INTEGER NOT NULL,
    title          TEXT,
    first_name     TEXT NOT NULL,
    middle_name    TEXT,
    last_name      TEXT NOT NULL,
    suffix         TEXT,
    until          TEXT
);
CREATE INDEX historical_names_constituent ON historical_names(constituent_id);

CREATE TABLE emails (
    constituent_id INTEGER NOT NULL,
    address        TEXT NOT NULL,
    kind           TEXT NOT NULL,
    is_primary     INTEGER NOT NULL,
    active         INTEGER NOT NULL,
    start_date     TEXT,
    end_date       TEXT,
    address_norm   TEXT
);
CREATE INDEX emails_constituent ON emails(constituent_id);
CREATE INDEX emails_norm ON emails(address_norm);

CREATE TABLE phones (
    constituent_id INTEGER NOT NULL,
    number         TEXT NOT NULL,
    kind           TEXT NOT NULL,
    is_primary     INTEGER NOT NULL,
    active         INTEGER NOT NULL,
    start_date     TEXT,
    end_date       TEXT,
    number_norm    TEXT
);
CREATE INDEX phones_constituent ON phones(constituent_id);
CREATE INDEX phones_norm ON phones(number_norm);

CREATE TABLE addresses (
    constituent_id INTEGER NOT NULL,
    line1          TEXT NOT NULL,
    line2          TEXT,
    city           TEXT NOT NULL,
    region         TEXT,
    postcode       TEXT,
    country        TEXT NOT NULL,
    kind           TEXT NOT NULL,
    is_primary     INTEGER NOT NULL,
    active         INTEGER NOT NULL,
    start_date     TEXT,
    end_date       TEXT
);
CREATE INDEX addresses_constituent ON addresses(constituent_id);

CREATE TABLE memberships (
    membership_id   TEXT PRIMARY KEY,
    level           TEXT NOT NULL,
    status          TEXT NOT NULL,
    start_date      TEXT NOT NULL,
    expiry_date     TEXT NOT NULL,
    guest_allowance INTEGER NOT NULL
);

CREATE TABLE membership_members (
    membership_id TEXT NOT NULL,
    lookup_id     TEXT NOT NULL,
    position      INTEGER NOT NULL,
    PRIMARY KEY (membership_id, position)
);
CREATE INDEX membership_members_lookup ON membership_members(lookup_id);

CREATE TABLE tickets (
    secret        TEXT PRIMARY KEY,
    product_id    TEXT NOT NULL,
    validity      TEXT NOT NULL,
    valid_date    TEXT,
    slot_start    TEXT,
    slot_end      TEXT,
    uses_allowed  INTEGER NOT NULL,
    status        TEXT NOT NULL,
    holder        TEXT
);

CREATE TABLE products (
    product_id       TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    kind             TEXT NOT NULL,
    currency         TEXT NOT NULL,
    member_price     INTEGER NOT NULL,
    non_member_price INTEGER NOT NULL,
    active           INTEGER NOT NULL
);

CREATE TABLE merges (
    merged_id   TEXT PRIMARY KEY,
    survivor_id TEXT NOT NULL,
    merged_at   TEXT NOT NULL
);
CREATE INDEX merges_survivor ON merges(survivor_id);

CREATE TABLE sync_cursors (
    resource   TEXT PRIMARY KEY,
    cursor     TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE sync_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL,
    version         INTEGER NOT NULL,
    payload         TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'dead')),
    dead_reason     TEXT,
    delivered_at    INTEGER
);
CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
"#;

/// A constituent's contact rows (historical names, emails, phones, addresses) clustered by
/// constituent: `WITHOUT ROWID` tables keyed by `(constituent_id, position)`, so one
/// constituent's rows share a page, a delta rewrites only the rows that changed, and no
/// separate `*_constituent` index has to be kept in step. `position` is the row's place in
/// the feed's list.
pub const V2: &str = r#"
CREATE TABLE historical_names_v2 (
    constituent_id INTEGER NOT NULL,
    position       INTEGER NOT NULL,
    title          TEXT,
    first_name     TEXT NOT NULL,
    middle_name    TEXT,
    last_name      TEXT NOT NULL,
    suffix         TEXT,
    until          TEXT,
    PRIMARY KEY (constituent_id, position)
) WITHOUT ROWID;
INSERT INTO historical_names_v2
    SELECT constituent_id, row_number() OVER (PARTITION BY constituent_id ORDER BY rowid) - 1,
           title, first_name, middle_name, last_name, suffix, until
    FROM historical_names;
DROP TABLE historical_names;
ALTER TABLE historical_names_v2 RENAME TO historical_names;

CREATE TABLE emails_v2 (
    constituent_id INTEGER NOT NULL,
    position       INTEGER NOT NULL,
    address        TEXT NOT NULL,
    kind           TEXT NOT NULL,
    is_primary     INTEGER NOT NULL,
    active         INTEGER NOT NULL,
    start_date     TEXT,
    end_date       TEXT,
    address_norm   TEXT,
    PRIMARY KEY (constituent_id, position)
) WITHOUT ROWID;
INSERT INTO emails_v2
    SELECT constituent_id, row_number() OVER (PARTITION BY constituent_id ORDER BY rowid) - 1,
           address, kind, is_primary, active, start_date, end_date, address_norm
    FROM emails;
DROP TABLE emails;
ALTER TABLE emails_v2 RENAME TO emails;
CREATE INDEX emails_norm ON emails(address_norm);

CREATE TABLE phones_v2 (
    constituent_id INTEGER NOT NULL,
    position       INTEGER NOT NULL,
    number         TEXT NOT NULL,
    kind           TEXT NOT NULL,
    is_primary     INTEGER NOT NULL,
    active         INTEGER NOT NULL,
    start_date     TEXT,
    end_date       TEXT,
    number_norm    TEXT,
    PRIMARY KEY (constituent_id, position)
) WITHOUT ROWID;
INSERT INTO phones_v2
    SELECT constituent_id, row_number() OVER (PARTITION BY constituent_id ORDER BY rowid) - 1,
           number, kind, is_primary, active, start_date, end_date, number_norm
    FROM phones;
DROP TABLE phones;
ALTER TABLE phones_v2 RENAME TO phones;
CREATE INDEX phones_norm ON phones(number_norm);

CREATE TABLE addresses_v2 (
    constituent_id INTEGER NOT NULL,
    position       INTEGER NOT NULL,
    line1          TEXT NOT NULL,
    line2          TEXT,
    city           TEXT NOT NULL,
    region         TEXT,
    postcode       TEXT,
    country        TEXT NOT NULL,
    kind           TEXT NOT NULL,
    is_primary     INTEGER NOT NULL,
    active         INTEGER NOT NULL,
    start_date     TEXT,
    end_date       TEXT,
    PRIMARY KEY (constituent_id, position)
) WITHOUT ROWID;
INSERT INTO addresses_v2
    SELECT constituent_id, row_number() OVER (PARTITION BY constituent_id ORDER BY rowid) - 1,
           line1, line2, city, region, postcode, country, kind, is_primary, active, start_date,
           end_date
    FROM addresses;
DROP TABLE addresses;
ALTER TABLE addresses_v2 RENAME TO addresses;
"#;

/// Constituent intake: local ids the hub has answered for. A constituent created on the device
/// carries a local id (`L-…`) until the hub returns its Lookup ID; the mapping stays so that a
/// reference to the local id made later (or still held by a screen) resolves.
pub const V3: &str = r#"
CREATE TABLE local_ids (
    local_id  TEXT PRIMARY KEY,
    lookup_id TEXT NOT NULL,
    mapped_at TEXT NOT NULL
);
CREATE INDEX local_ids_lookup ON local_ids(lookup_id);
"#;

/// The gate's lookup tables keyed by what a gate looks up: `WITHOUT ROWID` tables clustered by
/// ticket secret, membership ID and `(membership_id, position)`. A rowid table with a `TEXT
/// PRIMARY KEY` is two b-trees, so each lookup descended the key's index and then the table; a
/// scan now descends one b-tree per table (a ticket one instead of two, a membership with its
/// members two instead of four).
pub const V4: &str = r#"
CREATE TABLE tickets_v4 (
    secret        TEXT PRIMARY KEY,
    product_id    TEXT NOT NULL,
    validity      TEXT NOT NULL,
    valid_date    TEXT,
    slot_start    TEXT,
    slot_end      TEXT,
    uses_allowed  INTEGER NOT NULL,
    status        TEXT NOT NULL,
    holder        TEXT
) WITHOUT ROWID;
INSERT INTO tickets_v4 (secret, product_id, validity, valid_date, slot_start, slot_end,
                        uses_allowed, status, holder)
    SELECT secret, product_id, validity, valid_date, slot_start, slot_end, uses_allowed,
           status, holder
    FROM tickets ORDER BY secret;
DROP TABLE tickets;
ALTER TABLE tickets_v4 RENAME TO tickets;

CREATE TABLE memberships_v4 (
    membership_id   TEXT PRIMARY KEY,
    level           TEXT NOT NULL,
    status          TEXT NOT NULL,
    start_date      TEXT NOT NULL,
    expiry_date     TEXT NOT NULL,
    guest_allowance INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO memberships_v4 (membership_id, level, status, start_date, expiry_date,
                            guest_allowance)
    SELECT membership_id, level, status, start_date, expiry_date, guest_allowance
    FROM memberships ORDER BY membership_id;
DROP TABLE memberships;
ALTER TABLE memberships_v4 RENAME TO memberships;

CREATE TABLE membership_members_v4 (
    membership_id TEXT NOT NULL,
    lookup_id     TEXT NOT NULL,
    position      INTEGER NOT NULL,
    PRIMARY KEY (membership_id, position)
) WITHOUT ROWID;
INSERT INTO membership_members_v4 (membership_id, lookup_id, position)
    SELECT membership_id, lookup_id, position
    FROM membership_members ORDER BY membership_id, position;
DROP TABLE membership_members;
ALTER TABLE membership_members_v4 RENAME TO membership_members;
CREATE INDEX membership_members_lookup ON membership_members(lookup_id);
"#;

/// The hub names the parts of a constituent that changed after the device's cursor, so the
/// replica no longer keeps fingerprints of its contact lists (the `*_hash` columns stay, unused
/// and 0 in new rows, so that no replica has to rewrite its largest table). What it keeps
/// instead: whether the device itself wrote the record since the hub's version was applied
/// (intake), in which case the next delivery rewrites the record whole.
pub const V5: &str = r#"
ALTER TABLE constituents ADD COLUMN local_changes INTEGER NOT NULL DEFAULT 0;
"#;

/// A gate's scan log and the tallies of its folded scans, made by the migrations like every
/// other table. Earlier builds made them when a gate first opened (hence `IF NOT EXISTS` here,
/// and nowhere else); their `scan_journal` table, which tracked a journal file this build no
/// longer keeps, is left as it was.
pub const V6: &str = r#"
CREATE TABLE IF NOT EXISTS scans (
    id              INTEGER PRIMARY KEY,
    use_key         TEXT,
    credential_kind TEXT NOT NULL,
    gate            TEXT NOT NULL,
    direction       TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    reason_code     TEXT NOT NULL,
    party_requested INTEGER NOT NULL,
    party_admitted  INTEGER NOT NULL,
    uses_burned     INTEGER NOT NULL,
    at_ms           INTEGER NOT NULL,
    local_time      TEXT NOT NULL,
    annulled        INTEGER NOT NULL DEFAULT 0,
    outbox_key      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS scans_by_key ON scans(use_key, at_ms);
CREATE TABLE IF NOT EXISTS scan_tallies (
    use_key     TEXT PRIMARY KEY,
    uses_burned INTEGER NOT NULL,
    last_at_ms  INTEGER NOT NULL
) WITHOUT ROWID;
"#;

/// Records the device kept but cannot read back (a payload of a version this build does not
/// read, say): kept aside here as found, never dropped, and counted by `portico status`.
pub const V7: &str = r#"
CREATE TABLE kept_aside (
    id         INTEGER PRIMARY KEY,
    what       TEXT NOT NULL,
    reason     TEXT NOT NULL,
    content    TEXT,
    kept_at_ms INTEGER NOT NULL
);
"#;

/// What the kiosk sells: each product's sale document as delivered (prices per visitor
/// category, tax rule, sale window; read by `catalog::load_catalog`), the visitor categories,
/// tax rules and timed-entry slots, and the kiosks' ticket-signing keys.
pub const V8: &str = r#"
ALTER TABLE products ADD COLUMN sale TEXT;
CREATE TABLE categories (
    category_id TEXT PRIMARY KEY,
    doc         TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE tax_rules (
    tax_rule_id TEXT PRIMARY KEY,
    doc         TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE slots (
    slot_id     TEXT PRIMARY KEY,
    slot_group  TEXT NOT NULL,
    start       TEXT NOT NULL,
    end         TEXT NOT NULL,
    capacity    INTEGER NOT NULL,
    sales_close TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX slots_by_start ON slots(start);
CREATE TABLE signing_keys (
    key_id     INTEGER PRIMARY KEY,
    device_id  TEXT NOT NULL,
    public_key TEXT NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0
);
"#;

/// A kiosk's sales: its seat leases of timed-entry slots and the lease calls under way, payment
/// intents (written before a card is charged) with the seats they hold, and orders with their
/// lines, payment and issued tickets. A slot's seats sold here are the sum of its order lines
/// (from V12, plus the seats of orders pruned since).
pub const V9: &str = r#"
CREATE TABLE leases (
    slot_id       TEXT PRIMARY KEY,
    seats         INTEGER NOT NULL,
    hub_used      INTEGER NOT NULL DEFAULT 0,
    recall        INTEGER NOT NULL DEFAULT 0,
    sales_close   TEXT NOT NULL,
    updated_at_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE lease_ops (
    request_id    TEXT PRIMARY KEY,
    slot_id       TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('request', 'return')),
    seats         INTEGER NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('sent', 'done', 'refused')),
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX lease_ops_sent ON lease_ops(state) WHERE state = 'sent';
CREATE TABLE kiosk_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE payment_intents (
    reference      TEXT PRIMARY KEY,
    state          TEXT NOT NULL
        CHECK (state IN ('started', 'completed', 'failed', 'voided', 'kept_aside')),
    amount         INTEGER NOT NULL,
    currency       TEXT NOT NULL,
    draft          TEXT NOT NULL,
    outcome        TEXT,
    created_at_ms  INTEGER NOT NULL,
    resolved_at_ms INTEGER
);
CREATE TABLE intent_holds (
    reference TEXT NOT NULL,
    slot_id   TEXT NOT NULL,
    seats     INTEGER NOT NULL,
    PRIMARY KEY (reference, slot_id)
) WITHOUT ROWID;
CREATE TABLE orders (
    order_id      TEXT PRIMARY KEY,
    order_no      TEXT NOT NULL UNIQUE,
    payment_ref   TEXT NOT NULL UNIQUE,
    constituent   TEXT,
    membership_id TEXT,
    currency      TEXT NOT NULL,
    net           INTEGER NOT NULL,
    tax           INTEGER NOT NULL,
    gross         INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    local_time    TEXT NOT NULL,
    language      TEXT NOT NULL,
    receipt_email TEXT,
    offline       INTEGER NOT NULL,
    print_state   TEXT NOT NULL DEFAULT 'pending',
    outbox_key    TEXT NOT NULL
);
CREATE TABLE order_lines (
    order_id    TEXT NOT NULL,
    line_no     INTEGER NOT NULL,
    product_id  TEXT NOT NULL,
    category_id TEXT,
    slot_id     TEXT,
    quantity    INTEGER NOT NULL,
    seats       INTEGER NOT NULL,
    price_kind  TEXT NOT NULL,
    unit_price  INTEGER NOT NULL,
    tax_rule    TEXT NOT NULL,
    rate_bp     INTEGER NOT NULL,
    inclusive   INTEGER NOT NULL,
    net         INTEGER NOT NULL,
    tax         INTEGER NOT NULL,
    gross       INTEGER NOT NULL,
    PRIMARY KEY (order_id, line_no)
) WITHOUT ROWID;
CREATE INDEX order_lines_slot ON order_lines(slot_id) WHERE slot_id IS NOT NULL;
CREATE TABLE payments (
    order_id       TEXT PRIMARY KEY,
    reference      TEXT NOT NULL UNIQUE,
    method         TEXT NOT NULL,
    amount         INTEGER NOT NULL,
    currency       TEXT NOT NULL,
    auth_code      TEXT NOT NULL,
    card_brand     TEXT,
    last4          TEXT,
    terminal_txn   TEXT,
    approved_at_ms INTEGER NOT NULL
);
CREATE TABLE issued_tickets (
    secret        TEXT PRIMARY KEY,
    order_id      TEXT NOT NULL,
    line_no       INTEGER NOT NULL,
    key_id        INTEGER NOT NULL,
    ticket_id     INTEGER NOT NULL,
    code          TEXT NOT NULL,
    printed_at_ms INTEGER
);
CREATE INDEX issued_tickets_order ON issued_tickets(order_id);
"#;

/// Members' check-ins at a kiosk: the guest passes each printed (the check-in itself is a row
/// of `scans`).
pub const V10: &str = r#"
CREATE TABLE guest_passes (
    secret        TEXT PRIMARY KEY,
    scan_id       INTEGER NOT NULL,
    membership_id TEXT NOT NULL,
    key_id        INTEGER NOT NULL,
    ticket_id     INTEGER NOT NULL,
    code          TEXT NOT NULL,
    valid_on      TEXT NOT NULL,
    printed_at_ms INTEGER
);
CREATE INDEX guest_passes_scan ON guest_passes(scan_id);
"#;

/// The volunteer time clock: the CRM's jobs, the events and shifts from the hub's feeds, open
/// check-ins, and the timesheets made (each with its upload row, written together).
pub const V11: &str = r#"
CREATE TABLE jobs (
    name TEXT PRIMARY KEY
) WITHOUT ROWID;
CREATE TABLE volunteer_events (
    event_id TEXT PRIMARY KEY,
    doc      TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE volunteer_shifts (
    shift_id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    start    TEXT NOT NULL,
    end      TEXT NOT NULL,
    doc      TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX volunteer_shifts_end ON volunteer_shifts(end);
CREATE TABLE volunteer_clock (
    clock_id   TEXT PRIMARY KEY,
    volunteer  TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    shift_id   TEXT,
    checked_in TEXT NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX volunteer_clock_one_open ON volunteer_clock(volunteer);
CREATE TABLE timesheets (
    clock_id       TEXT PRIMARY KEY,
    volunteer      TEXT NOT NULL,
    event_id       TEXT NOT NULL,
    shift_id       TEXT,
    checked_in     TEXT NOT NULL,
    checked_out    TEXT NOT NULL,
    day            TEXT NOT NULL,
    hours          REAL NOT NULL,
    needs_approval TEXT,
    outbox_key     TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX timesheets_day ON timesheets(day);
"#;

/// Indexes for what a kiosk reads by time (its latest order and payments, today's guest passes,
/// the orders not printed) and for the hourly pruning of its records older than
/// `kiosk.keep_records`; and on each lease the seats of its orders pruned since, so that the
/// seats it counts sold never drop (the hub still counts them used).
pub const V12: &str = r#"
ALTER TABLE leases ADD COLUMN pruned_seats INTEGER NOT NULL DEFAULT 0;
CREATE INDEX orders_created ON orders(created_at_ms);
CREATE INDEX orders_not_printed ON orders(print_state) WHERE print_state != 'printed';
CREATE INDEX payment_intents_created ON payment_intents(created_at_ms);
CREATE INDEX guest_passes_day ON guest_passes(valid_on, scan_id);
CREATE INDEX lease_ops_created ON lease_ops(created_at_ms);
"#;
