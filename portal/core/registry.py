"""Extension points: how a lower layer shows what a higher one knows without importing it.

A module that needs something only a higher app can supply declares an extension point, names
what a provider receives and returns, and asks it when it needs it; the higher app registers its
provider when Django starts it (``AppConfig.ready``), as Wagtail's hooks are registered. The lower
module never names the higher one, so the import contract (docs/architecture.md) holds.

    # portal/selectors.py (lower)
    account_card_providers = Registry("account cards")

    # payments/hooks.py (higher), imported by PaymentsConfig.ready()
    @account_card_providers.register
    def bills_on_cards(*, bindings): ...

A keyed registry holds one provider per name (``KeyedRegistry``): the kinds of notification
attachment, each made by the app that knows it.
"""

from collections.abc import Callable, Iterator


class Registry[F: Callable]:
    """An ordered list of providers for one extension point."""

    def __init__(self, name: str):
        self.name = name
        self._providers: list[F] = []

    def register(self, provider: F) -> F:
        """Add ``provider`` (usable as a decorator). Registering the same function twice (a
        module imported again) keeps one."""
        if provider not in self._providers:
            self._providers.append(provider)
        return provider

    def unregister(self, provider: F) -> None:
        """Remove ``provider`` (tests that register one for a while)."""
        self._providers.remove(provider)

    def __iter__(self) -> Iterator[F]:
        return iter(list(self._providers))

    def __len__(self) -> int:
        return len(self._providers)

    def __repr__(self) -> str:
        return f"<Registry {self.name!r}: {len(self._providers)} providers>"


class KeyedRegistry[F: Callable]:
    """One provider per key, e.g. per kind of attachment."""

    def __init__(self, name: str):
        self.name = name
        self._providers: dict[str, F] = {}

    def register(self, key: str) -> Callable[[F], F]:
        def decorator(provider: F) -> F:
            existing = self._providers.get(key)
            if existing is not None and existing is not provider:
                raise ValueError(f"{self.name}: {key!r} is already provided by {existing!r}")
            self._providers[key] = provider
            return provider

        return decorator

    def get(self, key: str) -> F | None:
        return self._providers.get(key)

    def keys(self) -> list[str]:
        return sorted(self._providers)

    def __repr__(self) -> str:
        return f"<KeyedRegistry {self.name!r}: {', '.join(self.keys())}>"
