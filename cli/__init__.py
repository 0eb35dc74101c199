"""The `monitor` command line: the operator's entry point to every part of the service."""
