"""`ltsp-mesh bench` suites: measured figures beside their targets."""
