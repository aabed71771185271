"""The grid worker's page (`rootdb serve`): the published read-only copy it reads,
its own store, the web app."""
