"""`rootdb link`: who is who — people, houses and places resolved against the registry
and each other. The command is `rootdb.link.link`, whose named stages write the
`link_*` tables, `crosswalk`, the golden records and `batches`; it is named here so
that the CLI and the page reach every command through `rootdb.commands`."""

from __future__ import annotations

from rootdb.link import LinkResult, link

__all__ = ["LinkResult", "link"]
