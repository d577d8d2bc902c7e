"""Benchmarks behind ``lsi bench``: each module has add_arguments(parser) and run(args) -> dict."""
