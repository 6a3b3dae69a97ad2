"""One node at run time (asyncio): its devices and actuator, the phase scheduler, the API link,
and the runtime that carries the core's effects out.
"""
