"""Tests of monitor.app."""
