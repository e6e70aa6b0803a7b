"""Other projects' TCP test suites, run unmodified on the simulation."""
