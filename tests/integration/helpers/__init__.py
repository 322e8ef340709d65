"""Helpers for bothy's black-box integration tests (runtime, peers)."""
