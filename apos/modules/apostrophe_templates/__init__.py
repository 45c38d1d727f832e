"""``apostrophe-templates``: the site layout every page extends."""

from apos.modules.apostrophe_templates.module import TemplatesModule

__all__ = ["TemplatesModule"]
