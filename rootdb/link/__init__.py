"""Link: who is who. Resolves every person, house and place named by the current
snapshots against the reference registry and each other.

Reads the `<feed>` views; writes the `link_*` tables and the crosswalk.
"""
