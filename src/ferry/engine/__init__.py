"""The copy engine: scan, plan, transfer, verify (docs/design.md §4). No database, no HTTP."""
