"""The prepared statements' fast SQLite datetime binding writes exactly what SQLAlchemy's would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from mediagate.store.db import _json_dumps, _json_loads
from mediagate.store.types import UTCDateTime, sqlite_utc_datetime, sqlite_utc_text

DIALECT = sqlite.dialect()
SQLALCHEMY_BIND = UTCDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
SQLALCHEMY_RESULT = UTCDateTime().dialect_impl(DIALECT).result_processor(DIALECT, None)


@given(
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),
    st.sampled_from(
        [UTC, timezone(timedelta(0)), timezone(timedelta(hours=2)), timezone(timedelta(hours=-7, minutes=-30))]
    ),
)
def test_fast_sqlite_datetime_text_matches_sqlalchemy(value: datetime, tz: timezone) -> None:
    aware = value.replace(tzinfo=tz)
    assert SQLALCHEMY_BIND is not None and SQLALCHEMY_RESULT is not None
    stored = sqlite_utc_text(aware)
    assert stored == SQLALCHEMY_BIND(aware)
    read = sqlite_utc_datetime(stored)
    assert read == SQLALCHEMY_RESULT(stored) == aware and read.tzinfo is UTC
    second = stored[:19]  # a value written without microseconds (e.g. by hand or CURRENT_TIMESTAMP)
    assert sqlite_utc_datetime(second) == SQLALCHEMY_RESULT(second)


def test_naive_datetimes_and_none() -> None:
    assert sqlite_utc_text(None) is None
    with pytest.raises(ValueError, match="naive"):
        sqlite_utc_text(datetime(2026, 1, 1))


def test_json_columns_keep_non_ascii_and_non_string_keys() -> None:
    assert (
        _json_dumps({"prompt": "un phare à l'aube", 3: [1.5, None]}) == '{"prompt":"un phare à l\'aube","3":[1.5,null]}'
    )


def test_json_columns_read_rows_the_stdlib_wrote() -> None:
    legacy = '{"prompt": "un phare \\u00e0 l\'aube", "options": {"gain": NaN, "limit": Infinity}}'
    value = _json_loads(legacy)
    assert value["prompt"] == "un phare à l'aube" and value["options"]["limit"] == float("inf")
    assert value["options"]["gain"] != value["options"]["gain"]  # NaN
    assert _json_loads(_json_dumps({"a": [1, 2]})) == {"a": [1, 2]}
