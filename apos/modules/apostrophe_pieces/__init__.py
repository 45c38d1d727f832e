"""``apostrophe-pieces``: piece types stored in ``aposDocs`` and their batch operations.

Split like Apostrophe's: ``module.py`` (the module class and its options), ``api.py``
(finding and saving pieces), ``batch.py`` (batch operations and ``batch_simple``),
``fields.py`` (operation form fields), ``routes.py`` (``list``, one route per operation,
the manager page), ``views/`` and ``public/`` (the manager UI).
"""

from apos.modules.apostrophe_pieces.batch import BatchOperation
from apos.modules.apostrophe_pieces.fields import FormField
from apos.modules.apostrophe_pieces.module import PiecesModule

__all__ = ["BatchOperation", "FormField", "PiecesModule"]
