"""One module per ``gpunn`` sub-command, each with ``add_parser(subparsers)`` and a ``run(args)``."""
