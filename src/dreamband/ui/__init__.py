"""PyQtGraph views over a session. The only package that imports Qt."""
