"""One module per rule. Each `check` returns the reasons its rule fails, or `()`."""
