"""Tests of monitor.storage."""
