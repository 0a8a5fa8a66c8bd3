"""The product's operations, one class per feature, each built once with explicit
dependencies; the HTTP handlers, the console and the SIP edge call these."""
