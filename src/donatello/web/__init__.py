"""The browser edge: server-rendered pages over the same services and principal as the JSON API.

Adding a page:

* a sub-package with an ``endpoints.py`` whose router uses ``route_class=WebRoute`` (errors become
  readable pages, a missing session a redirect to sign-in), included in ``web/endpoints.py``;
* every route declares who may use it: ``Depends(requiring(Action.X))`` (add ``changes_state=True`` for a
  form: Origin + CSRF), the same ``tenancy/actions.py`` entry the API's route declares; or
  ``SignedInViewer`` / ``Checked`` for a page about oneself that any signed-in person may use. A route
  without a declaration fails the web permission walk (tests/web/test_web_permission_walk.py);
* then ``page(request, "x.html", viewer=viewer, ...)`` with a template that extends ``base.html`` and
  posts forms with ``viewer.csrf_token``;
* a ``NavItem`` in a group of ``rendering.NAVIGATION`` with the permission that shows it (a page links
  only to what ``viewer.offers``); money through ``| aud``,
  instants through ``| when`` (the organization's time zone).
"""
