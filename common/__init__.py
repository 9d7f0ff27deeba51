"""The floor under every package: small pieces that all of them share and that import nothing
from the project (so any package may use them without an arrow running back up).

============  =============================================================================
``errors``    exceptions that cross layers: :class:`~common.errors.ModelMissingError`
``sqltypes``  column types of several layers' tables: :class:`~common.sqltypes.UTCDateTime`
============  =============================================================================
"""
