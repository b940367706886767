"""Quickstart Gateway."""
