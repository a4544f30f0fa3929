"""Ingest: load and validate reports and guidelines, de-identify reports, cut both into chunks."""
