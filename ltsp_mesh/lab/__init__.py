"""Network-namespace labs, the demo's scenes and the benchmarks: tools for tests, never shipped."""
