"""The browser pages (an adapter): the operations console, and later the merchant portal
and the cashier. Pages are rendered on the server (``render.py``), in Chinese or English,
with charts drawn as SVG (``charts.py``) and security headers on every response
(``security.py``). Domain packages never import this package."""
