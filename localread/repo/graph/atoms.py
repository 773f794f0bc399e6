"""Atoms: the values the type inference computes with, and the algebra of their unions.

A type is a tuple of ints whose first item is its `Atom` kind (names are interned into
ints by `BuildState.intern`), and a value is a frozenset of atoms. Ints hash the same in
every process, so sets of atoms iterate in the same order and results never depend on
the per-process str hash seed.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Atom(IntEnum):
    """The kinds of atom; each comment gives the tuple after the kind. `n` is a scope's
    interned id, `dotted` an interned dotted name."""

    MODULE = 0  # (module id,): a repo module
    CLASS = 1  # (n,): a repo class
    INSTANCE = 2  # (class n,): an instance of a repo class
    WRAPPED = 3  # (class n,): a repo nn.Module wrapped by DataParallel/DDP/FSDP
    FUNCTION = 4  # (n, leading parameters bound, receiver class n or 0): a repo function
    EXTERNAL = 5  # (dotted,): an object outside the repo (`torch.nn.functional.relu`)
    EXTERNAL_RESULT = 6  # (dotted,): what calling that external returned
    EXTERNAL_METHOD = 7  # (dotted, receiver atom): an external method bound to a repo value
    SEQ = 8  # (origin dotted or 0, element atoms): a list, set, nn.ModuleList, ...
    DICT = 9  # (origin dotted or 0, value atoms[, keyed]): a dict, nn.ModuleDict, ...; keyed
    # when every key is a literal string: ((key str n, atoms), ...) in key order
    TUPLE = 10  # (per-position atoms,): a tuple of known length
    NAMESPACE = 11  # (module n,): a module's namespace (`mod.__dict__`, `vars(mod)`)
    SUPER = 12  # (class n, INSTANCE or CLASS): `super()` in a method of that class
    CONTAINER_METHOD = 13  # (container atom, method name): `seq.append`, `d.get`
    MISSING = 14  # (dotted,): a name that a repo module does not have
    ANY_FUNCTION = 15  # (): one of too many functions passed through a callback parameter
    CONFIG = 16  # (path, node index): a node of a YAML config the code loads (repo.configs)


# The kinds by name as plain ints, which the resolver's hot loops compare and hash:
# exact ints take the interpreter's fast paths, enum members do not (and `Atom.X` is
# read through the enum metaclass's attribute hook). `Atom(kind)` names a kind.
(
    MODULE, CLASS, INSTANCE, WRAPPED, FUNCTION, EXTERNAL, EXTERNAL_RESULT, EXTERNAL_METHOD, SEQ,
    DICT, TUPLE, NAMESPACE, SUPER, CONTAINER_METHOD, MISSING, ANY_FUNCTION, CONFIG,
) = (kind.value for kind in Atom)

# Kinds that make an unresolved call look like a call into the repository.
REPO_KINDS = frozenset({MODULE, CLASS, INSTANCE, WRAPPED, FUNCTION, NAMESPACE, SUPER, MISSING,
                        ANY_FUNCTION})
# Kinds that name something outside the repository (widened when too many).
OUTSIDE_KINDS = frozenset({EXTERNAL, EXTERNAL_RESULT, MISSING, CONTAINER_METHOD})
# Kinds whose call can send arguments into repo parameters.
CALLABLE_KINDS = frozenset({CLASS, FUNCTION, INSTANCE, WRAPPED, SEQ})
UNKNOWN_CALLABLE = (ANY_FUNCTION,)

EMPTY: frozenset = frozenset()

MAX_NEST = 3  # containers of containers deeper than this are dropped
MAX_OUTSIDE = 8  # more external/missing names than this in one value widen to "unknown"


def normalize(atoms: frozenset, unknown_external: tuple, unknown_missing: tuple) -> frozenset:
    """Merge containers of one kind and origin, and widen many external (or missing)
    names into one unknown, so that unions stay small and loops like
    `while ...: f = f.__wrapped__` reach a fixed point."""
    if len(atoms) < 2:
        return atoms
    containers = 0
    outside = 0
    for a in atoms:
        kind = a[0]
        if kind == SEQ or kind == DICT or kind == TUPLE:
            containers += 1
        elif kind in OUTSIDE_KINDS:
            outside += 1
    # Once widened, a value stays widened: the unknown absorbs every later name.
    if outside > MAX_OUTSIDE or (outside > 1 and (unknown_external in atoms or unknown_missing in atoms)):
        widened = {a for a in atoms if a[0] not in OUTSIDE_KINDS}
        if any(a[0] != MISSING and a[0] in OUTSIDE_KINDS for a in atoms):
            widened.add(unknown_external)
        if any(a[0] == MISSING for a in atoms):
            widened.add(unknown_missing)
        atoms = frozenset(widened)
    if containers < 2:
        return atoms
    merged: dict[tuple[int, int], frozenset] = {}
    single: dict[tuple[int, int], tuple | None] = {}  # the one container of a kind and origin
    tuples: dict[int, list[frozenset]] = {}
    for a in atoms:
        kind = a[0]
        if kind == TUPLE:
            n = len(a[1])
            if n in tuples:
                tuples[n] = [x | y for x, y in zip(tuples[n], a[1])]
            else:
                tuples[n] = list(a[1])
        elif kind == SEQ or kind == DICT:
            key = (kind, a[1])
            single[key] = a if key not in single else None
            merged[key] = merged.get(key, EMPTY) | a[2]
    # Elements added by mutation (origin 0) join whatever concrete container holds them.
    for kind in (SEQ, DICT):
        star = merged.get((kind, 0))
        others = [k for k in merged if k[0] == kind and k[1] != 0]
        if star is not None and others:
            del merged[(kind, 0)]
            for k in others:
                merged[k] = merged[k] | star
                single[k] = None
    out = {a for a in atoms if a[0] != SEQ and a[0] != DICT and a[0] != TUPLE}
    for k, v in merged.items():
        one = single.get(k)
        if one is not None and len(one) == 4:
            # A dict with literal keys, alone of its origin: its keys are kept.
            keyed = tuple((n, normalize(x, unknown_external, unknown_missing)) for n, x in one[3])
            out.add((k[0], k[1], normalize(v, unknown_external, unknown_missing), keyed))
        else:
            out.add((k[0], k[1], normalize(v, unknown_external, unknown_missing)))
    out.update((TUPLE, tuple(normalize(x, unknown_external, unknown_missing) for x in v))
               for v in tuples.values())
    return frozenset(out)


def nesting(atom: tuple) -> int:
    """How many containers deep an atom is."""
    kind = atom[0]
    if kind == CONTAINER_METHOD:
        return nesting(atom[1])
    if kind == SEQ or kind == DICT:
        return 1 + max((nesting(a) for a in atom[2]), default=0)
    if kind == TUPLE:
        return 1 + max((nesting(a) for elems in atom[1] for a in elems), default=0)
    return 0


def shallow(elems: frozenset) -> frozenset:
    """The elements that may go into a container (not nested too deep)."""
    return frozenset(a for a in elems if nesting(a) < MAX_NEST)


def elements(atoms: frozenset) -> frozenset:
    """What iterating over a value gives."""
    out: set = set()
    for a in atoms:
        if a[0] == SEQ:
            out.update(a[2])
        elif a[0] == TUPLE:
            for elems in a[1]:
                out.update(elems)
    return frozenset(out)


def keyed_value(atom: tuple, key: int) -> frozenset | None:
    """The value under a literal string key (interned) of a DICT atom with literal keys,
    or None when the keys are not known."""
    if len(atom) != 4:
        return None
    for n, value in atom[3]:
        if n == key:
            return value
    return EMPTY


def mapping_values(atoms: frozenset) -> frozenset:
    """The values of a mapping (or of a list of (key, value) pairs)."""
    out: set = set()
    for a in atoms:
        if a[0] == DICT:
            out.update(a[2])
        elif a[0] == SEQ:
            for pair in a[2]:
                if pair[0] == TUPLE and len(pair[1]) == 2:
                    out.update(pair[1][1])
    return frozenset(out)


class Op(StrEnum):
    """Steps from a value to the value a binding gets (a source's ops, applied in
    order); each comment gives the op tuple after the tag."""

    ITER = "iter"  # (): an element (`for x in value`, `a, *rest = value`)
    INDEX = "index"  # (position, length): one position of an unpacking (`a, b = value`)
    WRAP = "wrap"  # (SEQ or DICT,): a container holding the value (`x.append(value)`)
    VALUES = "values"  # (): the values of a mapping (`d.update(value)`)
    ENTER = "enter"  # (): what `__enter__` returns (`with value as x`)
    NOTHING = "nothing"  # (): no type (the starred name of an unpacking, `a, *rest = value`)


ITER, INDEX, WRAP, VALUES, ENTER, NOTHING = (op.value for op in Op)  # plain strs, as above
