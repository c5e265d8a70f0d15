"""The agent (docs/design.md §2, §5): identity, control-plane client, and the daemon running the engine
over job runs leased from the control plane. Imports engine and storage, never control or
cli."""
