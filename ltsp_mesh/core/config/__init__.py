"""Settings: lts.conf, mesh.conf and the client's LDM_LB_* values, read and checked."""
