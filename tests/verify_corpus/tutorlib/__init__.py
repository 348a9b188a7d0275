"""A textbook's helper package: one module per framework, the same names in each."""
