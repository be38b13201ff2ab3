"""Sub-commands of the ``insurereco`` command line.

Each module in this package defines ``register(subparsers)``, which adds its
sub-command(s) to the top-level parser. :mod:`insurereco.cli` discovers them.
"""
