"""Bytes <-> values: every format ltsp-mesh reads or writes, each in its own module."""
