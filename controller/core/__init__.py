"""The pure vocabulary of a node: effects, readings, phases, messages, the core that routes to its
modules, device health, counters, convergence and the audit's verdict. No I/O.
"""
