"""Metric definitions (one table, shared by code and README) and their rendering."""
