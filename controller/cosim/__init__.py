"""Co-simulation: the controller's nodes in the loop of a HELICS federation or a mosaik world."""
