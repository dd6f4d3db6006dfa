"""The broker's pure decisions: its view of the mesh, the request it reads, the answer it gives."""
