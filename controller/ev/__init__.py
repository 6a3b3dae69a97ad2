"""EV charging: where a charging request goes and whether a substation takes it (pure)."""
