"""Only the optional C extension; everything else is in pyproject.toml.

``optional=True``: without a C compiler the install still succeeds and
ingest.topics.lexicon uses its pure-Python scanner (same results, slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "ingest.topics._textscan",
            ["ingest/topics/_textscan.c"],
            optional=True,
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
        )
    ]
)
