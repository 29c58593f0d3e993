"""Arguments at the public boundary: the input error and the one check of argument types.

Every public function of :mod:`dlnkit.numerics` and :mod:`dlnkit.theory` (and the configuration
helpers the facades re-export) is wrapped in :func:`checked`. Before the body runs, each argument
is compared with the parameter's annotation -- an ``int`` is an integer and not a bool, a
``float`` a real number, a ``Sequence[int]`` a list or tuple of integers, a ``torch.Tensor`` a
tensor, a ``Callable`` callable -- and a mismatch is one :class:`DlnkitInputError` line naming the
function, the parameter, what it takes and what it got, instead of a ``TypeError`` or
``IndexError`` from deep inside torch, NumPy or SymPy (which the CLI would report as a dlnkit bug,
exit 70). Values (shapes, ranges, finiteness) stay the function's own checks; this layer only
knows types, so it never refuses an argument of the annotated type.

The module imports neither torch nor SymPy (``dlnkit.theory`` never imports torch and
``dlnkit.numerics`` never imports SymPy, and both use it): annotations are resolved lazily, on a
function's first call, in that function's own module.
"""

from __future__ import annotations

import collections.abc as cabc
import functools
import inspect
import numbers
import sys
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar


class DlnkitInputError(ValueError):
    """Bad input to a dlnkit routine (shapes, depth, rank, non-finite values, sizes, types).

    The CLI turns this into one line on stderr and exit status 2. The message is one line
    whatever it quotes (a tensor's or an array's repr spans lines): runs of white space become
    one space, and a message longer than :data:`MAX_MESSAGE` characters is cut there.
    """

    def __init__(self, *args: object) -> None:
        if args and isinstance(args[0], str):
            text = " ".join(args[0].split())
            if len(text) > MAX_MESSAGE:
                text = text[: MAX_MESSAGE - 5] + " ..."
            args = (text, *args[1:])
        super().__init__(*args)


#: the longest message of a DlnkitInputError (a whole tensor quoted in it would flood the terminal)
MAX_MESSAGE = 600


F = TypeVar("F", bound=Callable[..., Any])

#: a check: (accepts(value), what it takes, for the message)
Check = tuple[Callable[[Any], bool], str]


def _is_bool(x: object) -> bool:
    return isinstance(x, bool) or (type(x).__module__ == "numpy" and type(x).__name__ == "bool")


def _scalar(x: object) -> bool:
    """A single number-like object (a 0-d or one-element tensor/array counts)."""
    shape = getattr(x, "shape", None)
    return shape is None or len(shape) == 0 or (len(shape) == 1 and shape[0] == 1)


def _is_int(x: object) -> bool:
    if _is_bool(x) or isinstance(x, (str, bytes)):
        return False
    if isinstance(x, numbers.Integral):
        return True
    return hasattr(x, "__index__") and _scalar(x) and not getattr(x, "is_floating_point", lambda: False)()


def _is_real(x: object) -> bool:
    if _is_bool(x) or isinstance(x, (str, bytes, complex)):
        return False
    if isinstance(x, numbers.Real):
        return True
    if getattr(x, "is_complex", lambda: False)() or "complex" in str(getattr(x, "dtype", "")):
        return False
    return hasattr(x, "__float__") and _scalar(x)


def _is_sequence(x: object) -> bool:
    if isinstance(x, (str, bytes, cabc.Mapping)) or x is None:
        return False
    shape = getattr(x, "shape", None)
    if shape is not None and len(shape) != 1:  # a scalar tensor, or a matrix given for a list
        return False
    return isinstance(x, cabc.Sequence) or (hasattr(x, "__len__") and hasattr(x, "__getitem__"))


def _is_device(x: object) -> bool:
    """A device this machine has (torch is imported: the annotation named it)."""
    torch = sys.modules["torch"]
    if not isinstance(x, (str, torch.device)):
        return False
    if x == "auto":
        return True
    try:
        dev = torch.device(x)
    except (RuntimeError, ValueError, TypeError):
        return False
    if dev.type == "cpu":
        return True
    if dev.type == "cuda":
        return bool(torch.cuda.is_available()) and (dev.index is None or dev.index < torch.cuda.device_count())
    if dev.type == "mps":
        return bool(torch.backends.mps.is_available())
    return False  # 'meta' holds no numbers; other back ends are not supported


def _type_name(x: object) -> str:
    t = type(x)
    name = t.__name__ if t.__module__ == "builtins" else f"{t.__module__.split('.')[0]}.{t.__name__}"
    if isinstance(x, (bool, int, float)) or x is None:
        return f"{name} {x!r}"
    return name


def _short(x: object) -> str:
    text = repr(x)
    return text if len(text) <= 80 else text[:77] + "..."


def _accept_all() -> Check:
    return (lambda x: True), "anything"


def _union(parts: list[Check]) -> Check:
    accepts = [a for a, _ in parts]
    return (lambda x: any(a(x) for a in accepts)), " or ".join(d for _, d in parts)


def _sequence_of(elem: Check | None, what: str) -> Check:
    if elem is None:
        return _is_sequence, what
    elem_ok, elem_what = elem

    def ok(x: object) -> bool:
        if not _is_sequence(x):
            return False
        if isinstance(x, (list, tuple)):
            return all(elem_ok(e) for e in x)
        shape = getattr(x, "shape", None)
        if shape is not None:  # a tensor or array: 1-D, and its (one) dtype that of a valid element
            if len(shape) != 1:
                return False
            if shape[0] == 0:  # no element to look at: fine for numbers, not for a list of tensors
                return bool(elem_ok(0) or elem_ok(0.0))
            first = x[0]  # type: ignore[index]
            return bool(elem_ok(first.item() if hasattr(first, "item") else first))
        return True

    return ok, f"{what} of {elem_what}"


def _class_check(cls: type) -> Check | None:
    module = getattr(cls, "__module__", "") or ""
    name = cls.__name__
    if cls is object or getattr(cls, "_is_protocol", False):
        return None
    if cls is bool:
        return _is_bool, "a bool"
    if cls is int:
        return _is_int, "an integer (not a bool)"
    if cls is float:
        return _is_real, "a real number"
    if cls is complex:
        return (lambda x: isinstance(x, numbers.Number) and not _is_bool(x)), "a number"
    if cls is str:
        return (lambda x: isinstance(x, str)), "a string"
    if module.startswith("sympy"):
        if any(b.__name__ == "MatrixBase" for b in cls.__mro__):  # any SymPy matrix, mutable or not
            matrix = next(b for b in cls.__mro__ if b.__name__ == "MatrixBase")
            return (lambda x: isinstance(x, matrix)), "a SymPy matrix"
        if name in ("Expr", "Basic", "Number", "Rational", "Integer", "Float", "Symbol"):  # plain numbers are sympified
            return (
                lambda x: (
                    (type(x).__module__.startswith("sympy") and not isinstance(x, type))
                    or (isinstance(x, numbers.Number) and not _is_bool(x))
                )
            ), "a SymPy expression or a number"
        return (lambda x: isinstance(x, cls)), f"a SymPy {name}"
    if module == "numpy" and name == "ndarray":
        return (lambda x: isinstance(x, (list, tuple)) or type(x).__module__ == "numpy"), "a NumPy array"
    if module.startswith("torch") and name == "Tensor":  # a 'meta' tensor has a shape but no numbers
        return (
            lambda x: isinstance(x, cls) and getattr(getattr(x, "device", None), "type", "meta") != "meta"
        ), "a torch.Tensor (with data, not on 'meta')"
    if module.startswith("torch") and name == "device":
        return _is_device, "an available device ('cpu', 'cuda', 'cuda:N', 'auto' or a torch.device)"
    return (lambda x: isinstance(x, cls)), f"a {module.split('.')[0] + '.' if module != 'builtins' else ''}{name}"


def _check_for(tp: Any) -> Check | None:
    """The check of one annotation; ``None`` where the annotation constrains nothing we can test."""
    if tp is Any or isinstance(tp, (TypeVar, str, typing.ForwardRef)):
        return None
    if tp is None or tp is type(None):
        return (lambda x: x is None), "None"
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        parts = [_check_for(a) for a in args]
        if any(p is None for p in parts):
            return None
        return _union([p for p in parts if p is not None])
    if origin is typing.Literal:
        return (lambda x: x in args), "one of " + ", ".join(map(repr, args))
    if origin is typing.Annotated:
        return _check_for(args[0])
    if origin in (list, tuple, cabc.Sequence, cabc.MutableSequence):
        elem = _check_for(args[0]) if args and (origin is not tuple or len(args) == 2 and args[1] is ...) else None
        return _sequence_of(elem, "a list" if origin is list else "a sequence")
    if origin in (dict, cabc.Mapping, cabc.MutableMapping):
        return (lambda x: isinstance(x, cabc.Mapping)), "a mapping"
    if origin in (cabc.Iterable, cabc.Iterator, cabc.Collection):
        elem = _check_for(args[0]) if args else None

        def iterable(x: object) -> bool:  # lists and tuples are walked; an iterator is not consumed
            if not hasattr(x, "__iter__") or isinstance(x, (str, bytes)):
                return False
            return elem is None or not isinstance(x, (list, tuple)) or all(elem[0](e) for e in x)

        return iterable, "an iterable" + (f" of {elem[1]}" if elem else "")
    if origin is cabc.Callable or tp is cabc.Callable or tp is typing.Callable:
        return callable, "a callable"
    if origin is type or tp is type:
        return (lambda x: isinstance(x, type)), "a class"
    if origin is not None:
        return _class_check(origin) if isinstance(origin, type) else None
    if isinstance(tp, type):
        return _class_check(tp)
    return None


def _resolve(fn: Callable[..., Any], sig: inspect.Signature) -> dict[str, Check]:
    """Checks by parameter name; an annotation that cannot be resolved is no check."""
    home = sys.modules.get(getattr(fn, "__module__", "") or "")
    namespace = dict(vars(home)) if home is not None else dict(getattr(fn, "__globals__", {}))
    for alias, module in (("torch", "torch"), ("nn", "torch.nn"), ("np", "numpy"), ("npt", "numpy.typing")):
        if alias not in namespace and module in sys.modules:  # imported lazily by the function's module
            namespace[alias] = sys.modules[module]
    checks: dict[str, Check] = {}
    for name, param in sig.parameters.items():
        ann = param.annotation
        if ann is param.empty or param.kind == param.VAR_KEYWORD:
            continue
        if isinstance(ann, str):
            try:
                ann = eval(ann, namespace)  # noqa: S307 - the function's own annotation, in its module
            except Exception:  # noqa: BLE001 - a name only imported for type checkers: no check
                continue
        try:
            check = _check_for(ann)
        except Exception:  # noqa: BLE001 - an annotation this layer does not model: no check
            check = None
        if check is not None and param.kind == param.VAR_POSITIONAL:  # ``*args: T``: each one a T
            ok, what = check
            check = (lambda xs, ok=ok: all(ok(x) for x in xs)), f"each {what}"
        if check is not None:
            if param.default is None:  # ``x: T = None``: None is the documented default
                ok, what = check
                check = (lambda x, ok=ok: x is None or ok(x)), what
            checks[name] = check
    return checks


def _is_width(d: object) -> bool:
    if _is_int(d):
        return bool(int(d) >= 1)  # type: ignore[call-overload]
    return type(d).__module__.startswith("sympy") and not bool(getattr(d, "is_number", True))  # a symbol


def _accepts(check: Check, value: Any) -> bool:
    try:
        return bool(check[0](value))
    except Exception:  # noqa: BLE001 - an object whose comparisons raise is not of the annotated type
        return False


#: parameters whose name fixes more than a type, everywhere in dlnkit: ``dims`` are the widths
#: [d_in, d_1, ..., d_out] of a chain, ``depth`` (when a number) its L >= 1
NAMED_VALUES: dict[str, Check] = {
    "dims": (
        lambda x: _is_sequence(x) and len(x) >= 2 and all(_is_width(d) for d in x),
        "a list of at least two positive integer (or symbolic) widths [d_in, ..., d_out]",
    ),
    "depth": (lambda x: not _is_int(x) or int(x) >= 1, "at least 1 (when a number)"),
}


def checked(fn: F) -> F:
    """Wrap a public function (or a class's ``__init__``) in the argument check described above.

    >>> @checked
    ... def widths(n: int, scale: float = 1.0) -> list[float]:
    ...     return [scale] * n
    >>> widths(2)
    [1.0, 1.0]
    >>> widths(True)
    Traceback (most recent call last):
    ...
    dlnkit.arguments.DlnkitInputError: widths(): n must be an integer (not a bool), got bool True
    """
    sig = inspect.signature(fn)
    owner = fn.__qualname__.removesuffix(".__init__")
    if "<locals>" in owner:  # made by a decorator (Hypothesis's composite strategies): the plain name
        owner = fn.__name__
    checks: dict[str, Check] | None = None

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal checks
        if checks is None:
            checks = _resolve(fn, sig)
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise DlnkitInputError(f"{owner}(): {exc}") from None
        for name, value in bound.arguments.items():
            named = NAMED_VALUES.get(name)
            if named is not None and value is not None and not _accepts(named, value):
                raise DlnkitInputError(f"{owner}(): {name} must be {named[1]}, got {_short(value)}")
            check = checks.get(name)
            if check is not None and not _accepts(check, value):
                raise DlnkitInputError(f"{owner}(): {name} must be {check[1]}, got {_type_name(value)}")
        return fn(*args, **kwargs)

    return typing.cast(F, wrapper)


__all__ = ["DlnkitInputError", "checked"]
