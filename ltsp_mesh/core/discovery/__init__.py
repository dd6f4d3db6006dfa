"""DNS-SD: unique names, answers -> discovered servers, the unicast zone and its leases."""
