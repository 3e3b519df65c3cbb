"""The payments app's URL modules, each included by the project's URLconf by its dotted name
(portal/urls.py, urls_me.py, urls_org.py), so the person's bill pages stay under /me/
(namespace "me") and the organisation's under /org/<org>/ (namespace "org"). Every route that
names an object resolves it through a selector scoped to who asks
(tests/portal/test_access_matrix.py)."""
