"""claimwatch: track claims and forecasts, watch the news for evidence, score who forecasts well."""

__version__ = "0.1.0"
