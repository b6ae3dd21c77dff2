"""Durable state: job state, provider health, the alert outbox and the cost ledger
(`ledger_rows`, `pg_ledger`), in SQLite or PostgreSQL.

May import: `monitor.core`, sqlite3 and psycopg (PostgreSQL). Nothing above it.
"""
