"""The demo site that ships with apos (``apos serve`` with no ``--app``)."""
