"""The command line: ``dgi`` and its subcommands, terminal views, logging set-up."""
