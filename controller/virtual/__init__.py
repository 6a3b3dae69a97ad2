"""Whole groups of real node cores in virtual time, in one process."""
