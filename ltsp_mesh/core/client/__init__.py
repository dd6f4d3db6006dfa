"""The Python client's decisions over one survey: whom to ask, how, and whom to believe."""
