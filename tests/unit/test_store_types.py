"""The prepared statements' fast SQLite datetime binding writes exactly what SQLAlchemy's would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from mediagate.store.db import _json_dumps
from mediagate.store.types import UTCDateTime, sqlite_utc_text

DIALECT = sqlite.dialect()
SQLALCHEMY_BIND = UTCDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)


@given(
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),
    st.sampled_from(
        [UTC, timezone(timedelta(0)), timezone(timedelta(hours=2)), timezone(timedelta(hours=-7, minutes=-30))]
    ),
)
def test_fast_sqlite_datetime_text_matches_sqlalchemy(value: datetime, tz: timezone) -> None:
    aware = value.replace(tzinfo=tz)
    assert SQLALCHEMY_BIND is not None
    assert sqlite_utc_text(aware) == SQLALCHEMY_BIND(aware)


def test_naive_datetimes_and_none() -> None:
    assert sqlite_utc_text(None) is None
    with pytest.raises(ValueError, match="naive"):
        sqlite_utc_text(datetime(2026, 1, 1))


def test_json_columns_keep_non_ascii_and_non_string_keys() -> None:
    assert (
        _json_dumps({"prompt": "un phare à l'aube", 3: [1.5, None]}) == '{"prompt":"un phare à l\'aube","3":[1.5,null]}'
    )
