"""Every peer message a node speaks, by module: what the wire seals and opens (pure)."""

from __future__ import annotations

from controller.core.messages import NODE_MESSAGES, Catalogue
from controller.ev.messages import EV_MESSAGES
from controller.gm.messages import GM_MESSAGES
from controller.lb.messages import LB_MESSAGES
from controller.sc.messages import SC_MESSAGES

MESSAGES = Catalogue.of(NODE_MESSAGES, GM_MESSAGES, SC_MESSAGES, LB_MESSAGES, EV_MESSAGES)
