"""The payments app's forms, by page: ``bills``, ``pay``, ``invoice``, ``refund`` (staff)."""
