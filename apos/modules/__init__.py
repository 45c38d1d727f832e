"""The modules shipped with apos, one folder each (module class, routes, api, views, public)."""
