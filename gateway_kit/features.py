"""Features declare themselves once; the app factory, settings, models, migrations and CLI find them.

A feature is a package of the kit (or of a third party) whose ``__init__.py`` holds one
declaration, registered under the entry point group ``gateway_kit.features``::

    # gateway_kit/certs/__init__.py
    FEATURE = Feature.standard(
        "certs",
        __name__,
        commands=[Command("certs", ".cli:certs", "TLS certificates for the gateway's names.")],
        requires=("identity",),
    )

    # pyproject.toml
    [project.entry-points."gateway_kit.features"]
    certs = "gateway_kit.certs:FEATURE"

:meth:`Feature.standard` declares the usual layout (``feature.py`` with ``init_app``,
``settings.py``, ``models.py``); a feature without some of them uses ``Feature`` itself and names
what it has. Module paths starting with ``.`` are relative to the feature's package. Nothing is imported until
it is needed: the CLI lists commands from the declarations (``--help`` imports no feature code),
:func:`gateway_kit.settings.all_settings` imports only the ``settings`` modules, and
``gateway_kit.models.metadata`` only the ``models`` modules.

``requires`` names the features this one imports from; :func:`installed` checks at start-up that
they are present. A feature imports another feature only if it requires it (``tests/
test_architecture.py`` enforces this and that there is no import cycle). ``order`` places the
feature's ``init_app`` (and so its navigation entries) among features that do not depend on each
other. An entry point whose package is absent from this build is skipped; any other import error
is raised (a broken install is not an absent feature).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from .errors import ConfigError
from .modules import import_optional

ENTRY_POINT_GROUP = "gateway_kit.features"
#: Where :meth:`Feature.standard` finds a feature's ``init_app``, settings and models.
STANDARD_LAYOUT = {"init_app": ".feature:init_app", "settings": ".settings", "models": ".models"}


@dataclass(frozen=True)
class Command:
    """A command (group) a feature adds to ``gateway-kit``.

    :param path: its name, or ``"<group> <name>"`` to add it under a core group (``"db backup"``).
    :param target: ``"module:attribute"`` of the click command.
    :param help: the one line ``--help`` shows (so that listing commands imports nothing).
    :param hidden: left out of ``--help``.
    """

    path: str
    target: str
    help: str
    hidden: bool = False


@dataclass(frozen=True)
class Feature:
    """One feature's declaration (see the module docstring).

    :param name: short name (``jobs``); also the Alembic branch label of its migrations.
    :param package: the feature's package (``__name__`` in its ``__init__.py``).
    :param init_app: ``"module:function"`` taking the app: blueprints, worker tasks, nav entries.
    :param settings: module with a ``SETTINGS`` list.
    :param models: module whose import defines the feature's tables.
    :param migrations: the folder of the feature's Alembic revisions, relative to its package
        (default ``migrations``, where the package has one); the first revision carries
        ``branch_labels = (name,)``, and :func:`gateway_kit.db.upgrade` applies the revisions of
        the installed features only.
    :param commands: the feature's CLI commands.
    :param requires: names of the features it depends on (and may import).
    :param order: initialisation rank among independent features (lower first).
    """

    name: str
    package: str
    init_app: str | None = None
    settings: str | None = None
    models: str | None = None
    migrations: str | None = None
    commands: Sequence[Command] = ()
    requires: tuple[str, ...] = ()
    order: int = 100

    @classmethod
    def standard(cls, name: str, package: str, **declared: Any) -> Feature:
        """A feature with the usual layout: ``.feature:init_app``, ``.settings`` and ``.models``.

        :param declared: the other fields (``commands``, ``requires``, ``order``), or one of the
            three given otherwise.
        """
        return cls(name, package, **{**STANDARD_LAYOUT, **declared})

    def resolve(self, path: str) -> str:
        """An absolute module path (``.settings`` -> ``gateway_kit.jobs.settings``)."""
        return self.package + path if path.startswith(".") else path

    def module(self, path: str) -> ModuleType:
        return importlib.import_module(self.resolve(path))

    def attribute(self, target: str) -> Any:
        modname, _, attr = target.partition(":")
        return getattr(self.module(modname), attr)

    def migrations_dir(self) -> Path | None:
        """The folder of the feature's revisions, if it has one."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        folder = Path(next(iter(spec.submodule_search_locations))) / (self.migrations or "migrations")
        return folder if folder.is_dir() else None

    def run_init_app(self, app: Any) -> None:
        if self.init_app:
            init: Callable[[Any], None] = self.attribute(self.init_app)
            init(app)


def _from_entry_points() -> list[Feature]:
    from importlib.metadata import entry_points

    points = entry_points(group=ENTRY_POINT_GROUP)
    if not points:
        raise ConfigError(
            f"No gateway-kit features are registered (entry point group {ENTRY_POINT_GROUP} is "
            "empty): the package metadata is stale; reinstall it (pip install -e .)."
        )
    found: list[Feature] = []
    for ep in points:
        modname = ep.value.partition(":")[0]
        if import_optional(modname) is None:  # that feature's package is not in this build
            continue
        feature = ep.load()
        if not isinstance(feature, Feature):
            raise ConfigError(
                f"Entry point {ep.name!r} of {ENTRY_POINT_GROUP} names {ep.value}, which is not a "
                "gateway_kit.features.Feature."
            )
        found.append(feature)
    return found


def _ordered(features: Iterable[Feature]) -> list[Feature]:
    """Features with each after those it requires, else by ``order`` then name."""
    pending = {f.name: f for f in features}
    done: list[Feature] = []
    placed: set[str] = set()
    while pending:
        ready = [f for f in pending.values() if all(r in placed or r not in pending for r in f.requires)]
        if not ready:
            raise ConfigError(f"Features require each other in a cycle: {', '.join(sorted(pending))}.")
        nxt = min(ready, key=lambda f: (f.order, f.name))
        done.append(nxt)
        placed.add(nxt.name)
        del pending[nxt.name]
    return done


_INSTALLED: list[Feature] | None = None


def installed() -> list[Feature]:
    """The features present in this build, in initialisation order, with ``requires`` checked.

    :raises ConfigError: a feature requires one that is not installed.
    """
    global _INSTALLED
    if _INSTALLED is None:
        features = _from_entry_points()
        names = {f.name for f in features}
        for f in features:
            missing = [r for r in f.requires if r not in names]
            if missing:
                raise ConfigError(
                    f"Feature {f.name!r} requires {', '.join(repr(m) for m in missing)}, which "
                    f"{'is' if len(missing) == 1 else 'are'} not installed. Installed features: "
                    f"{', '.join(sorted(names)) or 'none'}."
                )
        _INSTALLED = _ordered(features)
    return list(_INSTALLED)


def get(name: str) -> Feature | None:
    """The installed feature called ``name``, if any."""
    return next((f for f in installed() if f.name == name), None)
