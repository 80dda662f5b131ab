"""The offline demo: a bundled corpus of fictional outlets served from loopback."""
