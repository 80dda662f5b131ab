"""Article extraction: page bytes → :class:`Article` (text, title, author, date, language,
site name, canonical URL), in-process with :func:`extract_article` or under hard time and
memory limits with :class:`ExtractionPool`. Batch use: :mod:`ingest.extract.batch`.
"""

from ingest.extract.article import Article, extract_article
from ingest.extract.canonical import acceptable_canonical, choose_canonical_url
from ingest.extract.decode import ERROR_CLASSES, ExtractionError, decode_html
from ingest.extract.pool import ExtractionPool, ExtractionTask

__all__ = [
    "ERROR_CLASSES",
    "Article",
    "ExtractionError",
    "ExtractionPool",
    "ExtractionTask",
    "acceptable_canonical",
    "choose_canonical_url",
    "decode_html",
    "extract_article",
]
