"""The broker in every `serve`: its live view of the mesh and its HTTP endpoint for thin clients."""
