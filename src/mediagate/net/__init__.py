"""Outbound network safety: every URL the server fetches or posts to goes through `urlguard`."""
