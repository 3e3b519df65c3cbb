"""Column shapes shared by the payments models."""

# Amounts owed and paid: yuan with 2 places. Unit prices: up to 6 places. Penalty rates: per day.
MONEY = {"max_digits": 14, "decimal_places": 2}
UNIT_PRICE = {"max_digits": 12, "decimal_places": 6}
KWH = {"max_digits": 14, "decimal_places": 2}
DAILY_RATE = {"max_digits": 8, "decimal_places": 6}
