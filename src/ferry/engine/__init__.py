"""The copy engine: scan, plan, transfer, verify (DESIGN §4). No database, no HTTP."""
