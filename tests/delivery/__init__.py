"""Tests of monitor.delivery."""
