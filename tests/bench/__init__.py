"""Benchmarks (run as scripts, not collected by pytest) and the Management API stub they share with tests."""
