"""In-memory implementations of the services' store ports, for logic tests without AWS."""
