"""``dgi loadtest``: charging requests fired at a site's entry, and how the site took them.

``plan`` says when each request goes (pure), ``client`` is a small HTTP/1.1 client on asyncio
streams, ``runner`` carries a plan out and records each outcome, ``stats`` sums the outcomes
up (pure: percentiles, active sessions at every instant) and ``plot`` draws them (matplotlib
lives there only).
"""
