"""The application server's own decisions: its figures, its pending logins, when to publish."""
