"""The browser edge: server-rendered pages over the same services and principal as the JSON API.

Adding a page (web app part 2 builds its dashboards this way):

* a sub-package with an ``endpoints.py`` whose router uses ``route_class=WebRoute`` (errors become
  readable pages, a missing session a redirect to sign-in), included in ``web/endpoints.py``;
* ``viewer: SignedIn`` to read, ``viewer: Checked`` for anything that changes state (Origin + CSRF), or
  ``Depends(requiring(Permission.X))`` for a role-gated page; then ``page(request, "x.html", viewer=viewer,
  ...)`` with a template that extends ``base.html`` and posts forms with ``viewer.csrf_token``;
* a ``NavItem`` in a group of ``rendering.NAVIGATION`` with the permission that shows it (a page links
  only to what ``viewer.offers``); money through ``| aud``,
  instants through ``| when`` (the organization's time zone).
"""
