"""Calendar arithmetic the rules share: months forward or back, and age on a date."""

from __future__ import annotations

import calendar
import datetime as dt


def shift_months(day: dt.date, months: int) -> dt.date:
    """The same day of the month `months` later (negative: earlier), clamped to the month's end."""
    y, m = divmod(day.year * 12 + day.month - 1 + months, 12)
    if day.day <= 28:
        return dt.date(y, m + 1, day.day)
    return dt.date(y, m + 1, min(day.day, calendar.monthrange(y, m + 1)[1]))


def age_on(birth: dt.date, on: dt.date) -> int:
    """Age in whole years on a date."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
