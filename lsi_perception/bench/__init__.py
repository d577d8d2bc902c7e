"""Benchmarks behind ``lsi bench``: each module has add_arguments(parser) and run(args) -> dict."""


class BenchmarkUnavailable(RuntimeError):
    """This machine cannot run the benchmark (e.g. ``lsi bench gpu`` without CUDA): ``lsi bench`` prints the
    message, which says why and what to do, and exits with status 1."""
