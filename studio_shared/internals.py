"""The fence around library internals: what the studio uses of a library beyond its documented API lives in one
module per library (``_arq_internals.py``, ``_jinja_internals.py``, …), which pins the exact versions it was
verified against and names every internal it relies on in a ``Fence``.

``tests/test_library_internals.py`` checks every fence: an installed version other than the verified one, or a name
that is gone (or a parameter the fence passes that a callable no longer takes), fails the suite with the fence's
path, what to re-check and where to record it. So an upgrade cannot change one of these silently: it fails until
someone has read the new version's code and updated ``VERIFIED``. The README's "Library internals we rely on" says
why each internal is used and what upstream change would remove it.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_NAME = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\((?P<params>[A-Za-z0-9_, ]*)\))?$")


@dataclass(frozen=True, slots=True)
class Relied:
    """Internals used on one library object: attribute names, each optionally with the parameters the studio passes
    (``"read_response(timeout)"``: the attribute exists and its signature takes ``timeout``)."""

    owner: str  # how messages name the object, e.g. "arq.worker.Worker"
    names: tuple[str, ...]
    target: Callable[[], object]  # the object to look at: a class, a module, or a built instance

    def missing(self) -> list[str]:
        """The names (as written) that ``target()`` lacks, or whose callable no longer takes a listed parameter."""
        found = self.target()
        gone: list[str] = []
        for entry in self.names:
            match = _NAME.match(entry)
            if match is None:
                raise ValueError(f"{entry!r} is not a name or name(params)")
            name, params = match["name"], match["params"]
            if not hasattr(found, name):
                gone.append(entry)
                continue
            if params is None:
                continue
            wanted = [p.strip() for p in params.split(",") if p.strip()]
            try:
                taken = inspect.signature(getattr(found, name)).parameters
            except (TypeError, ValueError):  # a builtin without a signature: cannot tell, so say so
                gone.append(entry)
                continue
            if any(p not in taken for p in wanted):
                gone.append(entry)
        return gone


@dataclass(frozen=True, slots=True)
class Fence:
    """One library's internals: the fence module's path, the exact versions verified, and what is relied on."""

    module: str  # the fence's path in the repository, e.g. "studio_worker/queue/_arq_internals.py"
    verified: Mapping[str, str]  # distribution name -> the exact version the fence was verified against
    relied: tuple[Relied, ...]
    # Checks of behaviour a name cannot show (a flag still read, a record still in the same shape): each returns
    # what is wrong, or None.
    probes: tuple[Callable[[], str | None], ...] = ()

    def relied_names(self) -> list[str]:
        return [f"{r.owner}.{name}" for r in self.relied for name in r.names]

    def problems(self) -> list[str]:
        """What stops the fence from holding: versions other than the verified ones, internals that are gone."""
        found: list[str] = []
        for distribution, pinned in self.verified.items():
            installed = importlib.metadata.version(distribution)
            if installed != pinned:
                found.append(
                    f"{self.module} was verified against {distribution} {pinned}; found {installed}: re-check "
                    f"{', '.join(self.relied_names())} in the new version's source, then update VERIFIED there "
                    "(and the README's 'Library internals we rely on')"
                )
        versions = ", ".join(f"{d} {importlib.metadata.version(d)}" for d in self.verified)
        for relied in self.relied:
            for name in relied.missing():
                found.append(
                    f"{self.module} relies on {relied.owner}.{name}, which {versions} no longer has (or no longer "
                    "takes those parameters): rewrite that part of the fence against the new version"
                )
        for probe in self.probes:
            if (problem := probe()) is not None:
                found.append(f"{self.module}: {problem} ({versions}): rewrite that part of the fence")
        return found
