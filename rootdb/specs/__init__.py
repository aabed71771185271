"""Feed schemas: the typed model of a ``schemas/<code>.yaml`` file and its loader.

Reads the schema directories (bundled, ``ROOTDB_SCHEMAS``, extra ones); writes nothing.
"""

from rootdb.specs.loader import load_spec_file, load_specs, schema_dirs
from rootdb.specs.models import ColumnSpec, FeedSpec, RoleSpec

__all__ = ["ColumnSpec", "FeedSpec", "RoleSpec", "load_spec_file", "load_specs", "schema_dirs"]
