"""Imported once by the forkserver: load the extractor and warm its lazy caches.

Workers fork from the server, so each starts with trafilatura, lxml and htmldate imported
and their first-use work (compiled XPath expressions, regex and date caches) already done.
"""

from ingest.extract.article import extract_article

_SAMPLE = (
    b"<html lang='en'><head><title>Warm-up page</title>"
    b"<meta property='article:published_time' content='2024-01-02'></head><body><article>"
    + b"<p>This paragraph exists only to exercise the extractor once before real pages. </p>"
    * 8
    + b"<p><a href='/other'>A link to another story that is not this one</a></p>"
    b"</article></body></html>"
)

extract_article(_SAMPLE, "https://example.org/warm/up")
