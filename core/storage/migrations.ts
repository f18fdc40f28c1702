// Versioned schema migrations. The SQL is kept to what SQLite and PostgreSQL both accept
// (TEXT, INTEGER, BIGINT, plain indexes), so a PostgreSQL store can run the same list.
// Append new versions; never edit one that has shipped.

export interface Migration {
  version: number;
  description: string;
  sql: string[];
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: 'templates, requests, approvals, smart cards, server PINs, audit log',
    sql: [
      `CREATE TABLE profile_templates (
        uuid TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        body TEXT NOT NULL
      )`,
      `CREATE TABLE requests (
        uuid TEXT PRIMARY KEY,
        request_type INTEGER NOT NULL,
        status INTEGER NOT NULL,
        flags INTEGER NOT NULL,
        profile_template_uuid TEXT NOT NULL,
        profile_template_version INTEGER NOT NULL,
        originator_user_uuid TEXT NOT NULL,
        originator_name TEXT NOT NULL,
        target_user_uuid TEXT NOT NULL,
        target_name TEXT NOT NULL,
        target_upn TEXT NOT NULL,
        submitted TEXT NOT NULL,
        completed TEXT NOT NULL,
        new_smartcard_uuid TEXT NOT NULL,
        old_smartcard_uuid TEXT NOT NULL,
        new_profile_uuid TEXT NOT NULL,
        old_profile_uuid TEXT NOT NULL,
        priority INTEGER NOT NULL,
        comment TEXT NOT NULL,
        data_collection TEXT NOT NULL,
        responses_issued INTEGER NOT NULL
      )`,
      `CREATE INDEX requests_by_target ON requests (target_user_uuid, submitted)`,
      `CREATE INDEX requests_by_template ON requests (profile_template_uuid, status, request_type)`,
      `CREATE INDEX requests_by_status ON requests (status, submitted)`,
      `CREATE INDEX requests_by_new_card ON requests (new_smartcard_uuid)`,
      `CREATE INDEX requests_by_old_card ON requests (old_smartcard_uuid)`,
      `CREATE TABLE request_approvals (
        request_uuid TEXT NOT NULL,
        approver_uuid TEXT NOT NULL,
        approved INTEGER NOT NULL,
        comment TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (request_uuid, approver_uuid)
      )`,
      `CREATE TABLE smartcards (
        uuid TEXT PRIMARY KEY,
        card_id TEXT NOT NULL,
        status INTEGER NOT NULL,
        flags INTEGER NOT NULL,
        parent_smartcard_uuid TEXT NOT NULL,
        primary_smartcard_uuid TEXT NOT NULL,
        permanent_smartcard_uuid TEXT NOT NULL,
        assigned_user_uuid TEXT NOT NULL,
        profile_template_uuid TEXT NOT NULL,
        profile_template_version INTEGER NOT NULL,
        comment TEXT NOT NULL,
        middleware TEXT NOT NULL,
        atr TEXT NOT NULL,
        key_version INTEGER NOT NULL,
        request_uuid TEXT NOT NULL,
        created_at TEXT NOT NULL
      )`,
      `CREATE INDEX smartcards_by_card_id ON smartcards (card_id, created_at)`,
      `CREATE INDEX smartcards_by_template ON smartcards (profile_template_uuid)`,
      `CREATE TABLE server_pins (
        smartcard_uuid TEXT NOT NULL,
        request_uuid TEXT NOT NULL,
        key_version INTEGER NOT NULL,
        sealed BLOB NOT NULL,
        PRIMARY KEY (smartcard_uuid, request_uuid)
      )`,
      `CREATE INDEX server_pins_by_request ON server_pins (request_uuid)`,
      `CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        correlation_id TEXT NOT NULL,
        caller_uuid TEXT NOT NULL,
        action TEXT NOT NULL,
        request_uuid TEXT NOT NULL,
        smartcard_uuid TEXT NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT NOT NULL
      )`,
      `CREATE INDEX audit_by_request ON audit_log (request_uuid, id)`,
      `CREATE INDEX audit_by_smartcard ON audit_log (smartcard_uuid, id)`,
    ],
  },
  {
    version: 2,
    description: 'issued certificates and the CRL number',
    sql: [
      `CREATE TABLE certificates (
        serial_hex TEXT PRIMARY KEY,
        smartcard_uuid TEXT NOT NULL,
        request_uuid TEXT NOT NULL,
        user_uuid TEXT NOT NULL,
        template_common_name TEXT NOT NULL,
        thumbprint TEXT NOT NULL,
        not_before TEXT NOT NULL,
        not_after TEXT NOT NULL,
        issuer TEXT NOT NULL,
        requester_name TEXT NOT NULL,
        status INTEGER NOT NULL,
        revoked_at TEXT NOT NULL,
        reason INTEGER NOT NULL,
        der BLOB NOT NULL,
        issued_at TEXT NOT NULL
      )`,
      `CREATE INDEX certificates_by_card ON certificates (smartcard_uuid, issued_at)`,
      `CREATE INDEX certificates_by_user ON certificates (user_uuid, issued_at)`,
      `CREATE INDEX certificates_by_request ON certificates (request_uuid)`,
      `CREATE INDEX certificates_by_status ON certificates (status)`,
      `CREATE TABLE ca_state (
        id INTEGER PRIMARY KEY,
        crl_number BIGINT NOT NULL
      )`,
      `INSERT INTO ca_state (id, crl_number) VALUES (1, 1)`,
    ],
  },
  {
    version: 3,
    description: 'drop smartcards_by_template: no query uses it',
    // Its one reader asked whether a card still refers to a template, which a request on the
    // same template always answers (a card is made only by binding it to a request on its own
    // template, and requests are never deleted). Every bind paid for keeping it up to date.
    sql: [`DROP INDEX smartcards_by_template`],
  },
];
