"""Whom to believe: SSH keys and certificates, signatures, known_hosts, and the verdicts."""
