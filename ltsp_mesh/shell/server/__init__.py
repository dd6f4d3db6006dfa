"""`ltsp-mesh serve`: the daemon, its responders, its announcements and its control socket."""
