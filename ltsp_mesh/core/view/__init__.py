"""What people see of the mesh: statuses, the recommended server, the chooser's screen."""
