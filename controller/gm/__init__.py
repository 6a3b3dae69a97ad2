"""Group management: FREEDM's invitation election (Garcia-Molina), as a pure module."""
