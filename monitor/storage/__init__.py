"""Durable state: job state, provider health and the alert outbox (SQLite or PostgreSQL).

May import: `monitor.core`, sqlite3 and psycopg (PostgreSQL). Nothing above it.
"""
