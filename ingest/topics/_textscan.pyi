from collections.abc import Iterable

class LexiconScanner:
    def __init__(
        self,
        words: Iterable[str],
        prefixes: Iterable[str],
        phrases: Iterable[tuple[str, str]] = (),
    ) -> None: ...
    def scan(self, spaced: str, /) -> frozenset[str]: ...

class TopicFilter:
    def __init__(
        self,
        filed: dict[str, tuple[int, ...]],
        keys: list[str],
        programs: list[list[int]],
        always: tuple[int, ...],
    ) -> None: ...
    def candidates(self, keys: frozenset[str] | set[str], /) -> list[int]: ...

def squeeze_spaces(text: str, /) -> str: ...

class TermJoiner:
    def __init__(self, separators: str, letters: str, folds: str) -> None: ...
    def join(self, text: str, /) -> str | None: ...
