"""Validators for the Chinese code systems carried by supervision records (DESIGN.md §5, §7).

Pure functions, no I/O.  Every ``validate_*`` function returns ``None`` or raises
:class:`CodeError`, whose ``reason`` is a stable machine code and whose message never echoes
the value being checked (resident IDs and credit codes of natural persons are personal
information).  Every ``is_valid_*`` is the boolean form.

Validators are strict: they expect already-repaired input.  Connectors call
:func:`normalize_identifier` first (full-width -> half-width, whitespace removed,
upper-cased), which is also how a lowercase ``x`` in a resident ID becomes acceptable.
"""

from __future__ import annotations

import datetime as _dt
import re
import time as _time
from operator import mul as _mul

from schemas import regions as _regions

# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class CodeError(ValueError):
    """A code failed validation.

    ``reason`` is a machine code (e.g. ``uscc_check``); ``field`` optionally names the record
    field that carried the value.  The message describes the rule that failed but never
    contains the full value.
    """

    def __init__(self, reason: str, message: str, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)

    def __reduce__(self):  # picklable (e.g. across worker processes) despite the extra args
        return (type(self), (self.reason, self.message, self.field))


# --------------------------------------------------------------------------------------------
# Identifier repair
# --------------------------------------------------------------------------------------------

_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}


def normalize_identifier(s: str) -> str:
    """Repair an identifier typed by a human before validating it.

    Rule: upper-case; map full-width ASCII (U+FF01-U+FF5E) to its half-width form
    (U+0021-U+007E); drop every whitespace character (including the ideographic space
    U+3000 and no-break spaces).  Idempotent: ``normalize_identifier(normalize_identifier(s))
    == normalize_identifier(s)``.
    """
    s = s.upper().translate(_FULLWIDTH)
    return "".join(ch for ch in s if not ch.isspace())


# --------------------------------------------------------------------------------------------
# Unified social credit code (GB 32100-2015)
# --------------------------------------------------------------------------------------------

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_VALUE = {ch: i for i, ch in enumerate(USCC_CHARSET)}
_DIGITS6 = re.compile(r"[0-9]{6}")

# GB 11714 organisation code (positions 9-17 of a USCC): weights over the 8-char body.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def uscc_check_char(first17: str) -> str:
    """Check character of a unified social credit code (GB 32100-2015).

    Rule: each of the first 17 characters has the value of its index in
    ``0123456789ABCDEFGHJKLMNPQRTUWXY``; with weights 1,3,9,27,19,26,16,17,20,29,25,13,8,24,
    10,30,28 (3**i mod 31), ``check = (31 - sum mod 31) mod 31`` and the check character is
    ``CHARSET[check]``.  Raises :class:`CodeError` (``uscc_length`` / ``uscc_charset``) on
    bad input.
    """
    if len(first17) != 17:
        raise CodeError("uscc_length", "expected the first 17 characters of a credit code")
    return _uscc_check(_uscc_values(first17))


def _uscc_values(code: str, field: str | None = None) -> list[int]:
    """Each character's GB 32100 value, in one pass; a character outside the charset raises ``uscc_charset``."""
    try:
        return list(map(_USCC_VALUE.__getitem__, code))
    except KeyError:
        pos = next(pos for pos, ch in enumerate(code, start=1) if ch not in _USCC_VALUE)
        raise CodeError(
            "uscc_charset",
            f"character at position {pos} is outside the GB 32100 charset",
            field=field,
        ) from None


def _uscc_check(values: list[int]) -> str:
    # (31 - sum mod 31) mod 31 == -sum mod 31; map stops after the 17 weights.
    return USCC_CHARSET[-sum(map(_mul, values, USCC_WEIGHTS)) % 31]


def validate_uscc(
    code: str, *, require_known_region: bool = False, field: str | None = None
) -> None:
    """Validate an 18-character unified social credit code (GB 32100-2015).

    Rules, checked in this order:

    * ``uscc_length``  -- exactly 18 characters;
    * ``uscc_charset`` -- every character in ``0123456789ABCDEFGHJKLMNPQRTUWXY``
      (no I, O, S, V, Z, no lowercase);
    * ``uscc_check``   -- the 18th character equals :func:`uscc_check_char` of the first 17;
    * ``uscc_region``  -- characters 3-8 are 6 digits (a GB/T 2260 code) and, only if
      ``require_known_region``, a current code in :mod:`schemas.regions` (off by default:
      codes issued before a reorganisation keep their old region).

    Positions 1 (registration department) and 2 (organisation type) and the embedded
    GB 11714 organisation code are not checked beyond the charset.
    """
    if not isinstance(code, str) or len(code) != 18:
        raise CodeError(
            "uscc_length", "unified social credit code must be 18 characters", field=field
        )
    # One pass over the characters' values, which also checks the charset: this runs for
    # every party of every record a connector validates.
    if _uscc_check(_uscc_values(code, field)) != code[17]:
        raise CodeError("uscc_check", "check character does not match (GB 32100)", field=field)
    region = code[2:8]
    if not region.isdigit():  # the charset is ASCII, so this means 6 ASCII digits
        raise CodeError("uscc_region", "characters 3-8 must be a 6-digit region code", field=field)
    if require_known_region and not _regions.is_known_region(region):
        raise CodeError("uscc_region", "characters 3-8 are not a known region code", field=field)


def is_valid_uscc(code: str, *, require_known_region: bool = False) -> bool:
    """Boolean form of :func:`validate_uscc`."""
    try:
        validate_uscc(code, require_known_region=require_known_region)
    except CodeError:
        return False
    return True


def org_code_check_char(body8: str) -> str:
    """GB 11714 organisation-code check character for an 8-character body.

    Rule: digits are 0-9, letters A-Z are 10-35; weights 3,7,9,10,5,8,4,2;
    ``c = 11 - sum mod 11``; 10 -> ``X``, 11 -> ``0``, else the digit.
    """
    if len(body8) != 8 or not all(ch.isascii() and (ch.isdigit() or ch.isupper()) for ch in body8):
        raise CodeError("org_code_format", "organisation code body must be 8 characters 0-9/A-Z")
    total = sum(int(ch, 36) * w for ch, w in zip(body8, _ORG_WEIGHTS, strict=True))
    c = 11 - total % 11
    return "X" if c == 10 else "0" if c == 11 else str(c)


def make_uscc(
    region: str,
    org_code_body: str,
    registration_dept: str = "9",
    org_type: str = "1",
) -> str:
    """Build a valid unified social credit code (for simulators and tests).

    ``registration_dept`` (position 1, e.g. ``9`` market regulation, ``1`` staffing office,
    ``5`` civil affairs, ``Y`` other) + ``org_type`` (position 2) + ``region`` (6 digits) +
    organisation code (9 characters; an 8-character ``org_code_body`` gets its GB 11714 check
    character appended) + the GB 32100 check character.  Raises :class:`CodeError` if the
    result cannot be valid.
    """
    if not _DIGITS6.fullmatch(region):
        raise CodeError("uscc_region", "region must be 6 digits")
    if len(org_code_body) == 8:
        org_code_body = org_code_body + org_code_check_char(org_code_body)
    if len(org_code_body) != 9:
        raise CodeError("uscc_length", "organisation code must be 8 (body) or 9 characters")
    if len(registration_dept) != 1 or len(org_type) != 1:
        raise CodeError(
            "uscc_length", "registration department and organisation type are 1 character each"
        )
    first17 = registration_dept + org_type + region + org_code_body
    return first17 + uscc_check_char(first17)


# --------------------------------------------------------------------------------------------
# Resident identity card number (GB 11643-1999)
# --------------------------------------------------------------------------------------------

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"
_ID_DIGITS17 = re.compile(r"[0-9]{17}")
_ID_MIN_BIRTH = _dt.date(1900, 1, 1)
#: Address-code prefixes that may open a resident ID: every province-level unit plus 83
#: (residence permits of Taiwan residents).  81/82 are also used by HK/Macao residence permits.
ID_PROVINCE_PREFIXES = frozenset({c[:2] for c in _regions.PROVINCES} | {"83"})


def resident_id_check_char(first17: str) -> str:
    """Check character of a resident ID number (GB 11643-1999, ISO 7064 MOD 11-2).

    Rule: weights 7,9,10,5,8,4,2,1,6,3,7,9,10,5,8,4,2 (2**(17-i) mod 11) over the first 17
    digits; ``sum mod 11`` indexes ``10X98765432``.  Raises :class:`CodeError`
    (``id_length`` / ``id_charset``) on bad input.
    """
    if len(first17) != 17:
        raise CodeError("id_length", "expected the first 17 digits of a resident ID")
    if not _ID_DIGITS17.fullmatch(first17):
        raise CodeError("id_charset", "the first 17 characters of a resident ID must be digits")
    return _id_check(first17)


_ID_ASCII_BIAS = 48 * sum(ID_WEIGHTS)  # sum(w * ord(d)) - bias == sum(w * int(d)) for ASCII digits


def _id_check(digits17: str) -> str:
    # Weights times the digits' ASCII codes, less 48 each: no int() per digit (ASCII digits only).
    return ID_CHECK_CHARS[(sum(map(_mul, digits17.encode("ascii"), ID_WEIGHTS)) - _ID_ASCII_BIAS) % 11]


_today_cache: tuple[_dt.date, float, float] = (_dt.date.min, 0.0, 0.0)  # (day, its start, next start)


def _local_today() -> _dt.date:
    """``date.today()``, read from the clock once per local day rather than once per ID."""
    global _today_cache
    day, start, until = _today_cache
    now = _time.time()
    if not start <= now < until:  # a new day (or the clock was set back)
        day = _dt.date.fromtimestamp(now)
        start = _dt.datetime.combine(day, _dt.time()).timestamp()
        until = _dt.datetime.combine(day + _dt.timedelta(days=1), _dt.time()).timestamp()
        _today_cache = (day, start, until)
    return day


def _parse_yyyymmdd(digits8: str) -> _dt.date | None:
    try:
        return _dt.date(int(digits8[:4]), int(digits8[4:6]), int(digits8[6:8]))
    except ValueError:
        return None


def validate_resident_id(
    code: str,
    *,
    require_known_region: bool = False,
    today: _dt.date | None = None,
    field: str | None = None,
) -> None:
    """Validate an 18-character resident ID number (GB 11643-1999).

    Rules, checked in this order:

    * ``id_length``     -- exactly 18 characters (15-digit first-generation numbers are
      rejected);
    * ``id_charset``    -- 17 ASCII digits then a digit or uppercase ``X`` (strict: a
      lowercase ``x`` must be repaired by :func:`normalize_identifier` first);
    * ``id_birth_date`` -- characters 7-14 are a real calendar date ``yyyyMMdd``, not before
      1900-01-01 and not after ``today`` (defaults to ``date.today()``);
    * ``id_check``      -- the 18th character equals :func:`resident_id_check_char`;
    * ``id_region``     -- characters 1-2 are a province-level code (any province of China,
      or 81/82/83 for residence permits) and, only if ``require_known_region``, characters
      1-6 are a current code in :mod:`schemas.regions`.
    """
    if not isinstance(code, str) or len(code) != 18:
        raise CodeError("id_length", "resident ID must be 18 characters", field=field)
    # isascii() first: str.isdigit() alone also accepts other scripts' digits.
    if not (code.isascii() and code[:17].isdigit()) or code[17] not in "0123456789X":
        raise CodeError(
            "id_charset",
            "resident ID must be 17 digits followed by a digit or 'X'",
            field=field,
        )
    birth = _parse_yyyymmdd(code[6:14])
    if birth is None:
        raise CodeError(
            "id_birth_date", "birth date (characters 7-14) is not a calendar date", field=field
        )
    if birth < _ID_MIN_BIRTH or birth > (today or _local_today()):
        raise CodeError(
            "id_birth_date", "birth date (characters 7-14) is out of range", field=field
        )
    if _id_check(code[:17]) != code[17]:  # the charset is checked above
        raise CodeError("id_check", "check character does not match (GB 11643)", field=field)
    if code[:2] not in ID_PROVINCE_PREFIXES:
        raise CodeError("id_region", "characters 1-2 are not a province-level code", field=field)
    if require_known_region and not _regions.is_known_region(code[:6]):
        raise CodeError("id_region", "characters 1-6 are not a known region code", field=field)


def is_valid_resident_id(
    code: str, *, require_known_region: bool = False, today: _dt.date | None = None
) -> bool:
    """Boolean form of :func:`validate_resident_id`."""
    try:
        validate_resident_id(code, require_known_region=require_known_region, today=today)
    except CodeError:
        return False
    return True


def resident_id_birth_date(code: str) -> _dt.date:
    """Birth date (characters 7-14) of a resident ID; validates the ID first (raises :class:`CodeError`)."""
    validate_resident_id(code)
    birth = _parse_yyyymmdd(code[6:14])
    assert birth is not None  # guaranteed by validation
    return birth


def resident_id_sex(code: str) -> str:
    """``"M"`` if the sequence (characters 15-17) is odd, else ``"F"``; validates the ID first."""
    validate_resident_id(code)
    return "M" if int(code[16]) % 2 == 1 else "F"


def make_resident_id(region: str, birth_date: _dt.date, sequence: int | str) -> str:
    """Build a resident ID (for simulators and tests): region + ``yyyyMMdd`` + 3-digit sequence + check.

    ``sequence`` is 0-999 (int) or 3 digits (str); odd means male.  The result passes
    :func:`validate_resident_id` when the region prefix is a province and the birth date is
    in range; this function only checks shapes.
    """
    if not _DIGITS6.fullmatch(region):
        raise CodeError("id_region", "region must be 6 digits")
    if isinstance(sequence, int):
        if not 0 <= sequence <= 999:
            raise CodeError("id_charset", "sequence must be 0-999")
        seq = f"{sequence:03d}"
    else:
        if not re.fullmatch(r"[0-9]{3}", sequence):
            raise CodeError("id_charset", "sequence must be 3 digits")
        seq = sequence
    first17 = f"{region}{birth_date.year:04d}{birth_date.month:02d}{birth_date.day:02d}{seq}"
    return first17 + resident_id_check_char(first17)


# --------------------------------------------------------------------------------------------
# Region codes (GB/T 2260)
# --------------------------------------------------------------------------------------------

DEFAULT_PROVINCES = ("33", "31", "32", "34", "35", "36")


def validate_region(
    code: str,
    *,
    provinces: tuple[str, ...] | None = DEFAULT_PROVINCES,
    field: str | None = None,
) -> None:
    """Validate a GB/T 2260 region code.

    * ``region_format``  -- exactly 6 ASCII digits;
    * ``region_unknown`` -- not a current code in :mod:`schemas.regions`, or its 2-digit
      province prefix is not in ``provinces`` (default: Zhejiang and its neighbours 31, 32,
      34, 35, 36; ``None`` allows any province in the table).
    """
    if not isinstance(code, str) or not _DIGITS6.fullmatch(code):
        raise CodeError("region_format", "region code must be 6 digits", field=field)
    if not _regions.is_known_region(code):
        raise CodeError("region_unknown", "region code is not a known GB/T 2260 code", field=field)
    if provinces is not None and code[:2] not in provinces:
        raise CodeError(
            "region_unknown", "region code is outside the accepted provinces", field=field
        )


def is_valid_region(code: str, *, provinces: tuple[str, ...] | None = DEFAULT_PROVINCES) -> bool:
    """Boolean form of :func:`validate_region`."""
    try:
        validate_region(code, provinces=provinces)
    except CodeError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# Supervision item catalog code and implementation-list code
# --------------------------------------------------------------------------------------------

_ITEM_CODE = re.compile(r"[0-9]{14}")
_IMPL_TAIL = re.compile(r"[0-9A-Z]*")
IMPLEMENTATION_KINDS = frozenset("12345")


def validate_item_code(code: str, *, field: str | None = None) -> None:
    """Supervision item catalog code: exactly 14 ASCII digits (reason ``item_code_format``)."""
    if not isinstance(code, str) or not _ITEM_CODE.fullmatch(code):
        raise CodeError(
            "item_code_format", "supervision item code must be exactly 14 digits", field=field
        )


def validate_implementation_code(code: str, *, field: str | None = None) -> None:
    """Item check implementation-list code.

    * ``impl_code_length``  -- at least 19 characters;
    * ``impl_code_charset`` -- only ``0-9`` / ``A-Z`` (normalise first);
    * ``impl_code_uscc``    -- characters 1-18 are a valid unified social credit code (the
      implementing agency's, see :func:`validate_uscc`);
    * ``impl_code_kind``    -- character 19 is ``1``-``5``.
    """
    if not isinstance(code, str) or len(code) < 19:
        raise CodeError(
            "impl_code_length",
            "implementation-list code must be at least 19 characters",
            field=field,
        )
    if not _IMPL_TAIL.fullmatch(code):
        raise CodeError(
            "impl_code_charset", "implementation-list code must be 0-9/A-Z only", field=field
        )
    if not is_valid_uscc(code[:18]):
        raise CodeError(
            "impl_code_uscc",
            "characters 1-18 are not a valid unified social credit code",
            field=field,
        )
    if code[18] not in IMPLEMENTATION_KINDS:
        raise CodeError("impl_code_kind", "character 19 must be 1-5", field=field)


# --------------------------------------------------------------------------------------------
# Exchange batch number
# --------------------------------------------------------------------------------------------

_BATCH = re.compile(r"[0-9]{13}")


def validate_batch(code: str, *, field: str | None = None) -> None:
    """Exchange batch number: ``yyyyMMdd`` + 5-digit sequence, e.g. ``2019041100002``.

    * ``batch_format`` -- exactly 13 ASCII digits;
    * ``batch_date``   -- the first 8 are a real calendar date (year >= 1900).
    """
    if not isinstance(code, str) or not _BATCH.fullmatch(code):
        raise CodeError(
            "batch_format", "batch must be yyyyMMdd followed by a 5-digit sequence", field=field
        )
    day = _parse_yyyymmdd(code[:8])
    if day is None or day.year < 1900:
        raise CodeError(
            "batch_date", "batch date (characters 1-8) is not a valid date", field=field
        )


def make_batch(day: _dt.date, sequence: int) -> str:
    """Build a batch number ``yyyyMMdd`` + ``sequence`` zero-padded to 5 digits (0-99999)."""
    if not 0 <= sequence <= 99999:
        raise CodeError("batch_format", "batch sequence must be 0-99999")
    return f"{day.year:04d}{day.month:02d}{day.day:02d}{sequence:05d}"


def is_valid_batch(code: str) -> bool:
    """Boolean form of :func:`validate_batch`."""
    try:
        validate_batch(code)
    except CodeError:
        return False
    return True


__all__ = [
    "DEFAULT_PROVINCES",
    "ID_CHECK_CHARS",
    "ID_WEIGHTS",
    "IMPLEMENTATION_KINDS",
    "USCC_CHARSET",
    "USCC_WEIGHTS",
    "CodeError",
    "is_valid_batch",
    "is_valid_region",
    "is_valid_resident_id",
    "is_valid_uscc",
    "make_batch",
    "make_resident_id",
    "make_uscc",
    "normalize_identifier",
    "org_code_check_char",
    "resident_id_birth_date",
    "resident_id_check_char",
    "resident_id_sex",
    "uscc_check_char",
    "validate_batch",
    "validate_implementation_code",
    "validate_item_code",
    "validate_region",
    "validate_resident_id",
    "validate_uscc",
]
