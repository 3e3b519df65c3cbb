"""The payments app's pages: ``bills`` (bill lists, a bill, usage, organisation statements), ``pay``
(paying online), ``invoices`` (VAT invoice requests), ``receipts`` (download and verification),
``webhook`` (the payment provider's). URLs: payments/urls/."""
