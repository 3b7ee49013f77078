"""The researcher's side: the read API, catalog and search, exports, verify and the `archive` command."""
