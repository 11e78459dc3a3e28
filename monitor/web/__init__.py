"""The archive page: a read-only web page over the store (``monitor serve``, or ``web:`` in
monitor.yaml for ``monitor run``).

- chart.py: hits per day -> the bars of a small SVG chart (pure);
- views.py: what each page shows, read from the store and explained by the rules;
- pages.py: the Starlette application: routes, parameters, templates, security headers;
- server.py: where it listens (loopback unless a token is set), uvicorn in a thread or in
  the foreground.
"""
