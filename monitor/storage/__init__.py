"""Durable state: job state, provider health and the alert outbox (SQLite today).

May import: `monitor.core` and the standard library's sqlite3. Nothing above it.
"""
