"""Marketplace: an open, self-hostable, serverless backend for VS Code-style editors.

Subpackages: ``platform`` (resource and function definitions, configuration, AWS clients, HTTP and
observability helpers), one package per capability (``gallery``, ``publishing``, ``search``, ``sync``,
``reviews``, ``telemetry``, ``stats``), and ``local`` (the embedded local runtime and the CLI's server).
"""

__version__ = "0.1.0"
